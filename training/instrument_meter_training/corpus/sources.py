"""Audio sources of the corpus: SoundFonts, GM presets per class, instrument ranges.

The singing voices live in engine_voices.py.

Only the sources named in DESIGN.md are used. Every entry carries its Debian package and licence so
the data card can list them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLASSES = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Font:
    key: str
    file: str
    family: str  # recording family (fonts of one family share recordings)
    package: str
    license: str
    candidates: tuple[str, ...]

    def path(self) -> str:
        for p in self.candidates:
            if os.path.exists(p):
                return p
        raise FileNotFoundError(
            f"SoundFont {self.file} not found (install Debian package {self.package}); looked in {self.candidates}"
        )


FONTS: dict[str, Font] = {
    f.key: f
    for f in (
        Font(
            "fluidr3",
            "FluidR3_GM.sf2",
            "fluid",
            "fluid-soundfont-gm",
            "MIT (Frank Wen, FluidR3 GM)",
            ("/usr/share/sounds/sf2/FluidR3_GM.sf2",),
        ),
        Font(
            "fluidmono",
            "FluidR3Mono_GM.sf3",
            "fluid",
            "fluidr3mono-gm-soundfont",
            "MIT (FluidR3 Mono, MuseScore 2.1)",
            (
                "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
                "/usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3",
            ),
        ),
        Font(
            "msgen",
            "MuseScore_General_Full.sf3",
            "fluid",
            "musescore-general-soundfont",
            "MIT (MuseScore General, S. Christian Collins)",
            (
                "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
                "/usr/share/sounds/sf3/MuseScore_General.sf3",
            ),
        ),
        Font(
            "timgm6mb",
            "TimGM6mb.sf2",
            "timgm",
            "timgm6mb-soundfont",
            "GPL-2+ (Tim Brechbill, TimGM6mb)",
            ("/usr/share/sounds/sf2/TimGM6mb.sf2",),
        ),
        Font(
            "csgm",
            "sf_GMbank.sf2",
            "timgm",
            "csound-soundfont",
            "LGPL-2.1+ (csound-soundfont sf_GMbank)",
            ("/usr/share/sounds/sf2/sf_GMbank.sf2", "/usr/share/samples/sf_GMbank.sf2"),
        ),
        # Only the presets pools.json lists: its other pianos, guitars and voices reuse recordings of
        # a set kept for independent testing.
        Font(
            "generaluser",
            "GeneralUser-v1.47.sf2",
            "generaluser",
            "minuet-data",
            "GeneralUser GS licence v2.0 (S. Christian Collins): use without restriction, samples with "
            "full production rights (INFO chunk of the file)",
            ("/usr/share/minuet/soundfonts/GeneralUser-v1.47.sf2",),
        ),
    )
}

# GM programs (0-based) per class: every preset variant that is the class's instrument.
PROGRAMS: dict[str, tuple[int, ...]] = {
    "cel": (42,),
    "cla": (71,),
    "flu": (73,),
    "gac": (24, 25),
    "gel": (26, 27, 29, 30),
    "org": (16, 17, 18, 19),
    "pia": (0, 1),
    "sax": (64, 65, 66, 67),
    "tru": (56, 59),
    "vio": (40, 110),
    "voi": (52, 53),
}

PROGRAM_NAMES = {
    0: "Acoustic Grand Piano",
    1: "Bright Acoustic Piano",
    16: "Drawbar Organ",
    17: "Percussive Organ",
    18: "Rock Organ",
    19: "Church Organ",
    24: "Acoustic Guitar (nylon)",
    25: "Acoustic Guitar (steel)",
    26: "Electric Guitar (jazz)",
    27: "Electric Guitar (clean)",
    29: "Overdriven Guitar",
    30: "Distortion Guitar",
    40: "Violin",
    42: "Cello",
    52: "Choir Aahs",
    53: "Voice Oohs",
    56: "Trumpet",
    59: "Muted Trumpet",
    64: "Soprano Sax",
    65: "Alto Sax",
    66: "Tenor Sax",
    67: "Baritone Sax",
    71: "Clarinet",
    73: "Flute",
    110: "Fiddle",
}

# Playable MIDI range per class (comfortable written range of the real instrument), and per preset
# where the variants differ (saxophones).
RANGES: dict[str, tuple[int, int]] = {
    "cel": (36, 76),
    "cla": (50, 89),
    "flu": (60, 96),
    "gac": (40, 81),
    "gel": (40, 84),
    "org": (36, 91),
    "pia": (28, 100),
    "sax": (49, 80),
    "tru": (55, 82),
    "vio": (55, 100),
    "voi": (45, 79),
}
PROGRAM_RANGES = {64: (56, 87), 65: (49, 80), 66: (44, 75), 67: (36, 68)}

# Polyphonic ("chord") instruments: may play several parts of the score at once.
CHORDAL = ("gac", "gel", "org", "pia")
# Sustained instruments that get vibrato (mod wheel) and expression (CC11) curves.
EXPRESSIVE = ("cel", "cla", "flu", "sax", "tru", "vio", "voi")


MUSIC21_LICENSE = (
    "music21 corpus (BSD-3-Clause toolkit; the scores are public-domain works, encodings per music21)"
)


def range_for(cls: str, program: int | None = None) -> tuple[int, int]:
    if program is not None and cls == "sax" and program in PROGRAM_RANGES:
        return PROGRAM_RANGES[program]
    return RANGES[cls]
