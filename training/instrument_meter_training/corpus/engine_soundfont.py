"""SoundFont presets played by FluidSynth (render.FluidRenderer), the engine "soundfont".

Member fields (pools.json):
- {"engine": "soundfont", "font": "fluidr3"}: every GM program of every class (sources.PROGRAMS)
  at bank 0; "classes": [...] restricts the classes, "exclude": ["font:bank:program", ...] drops
  presets.
- {"engine": "soundfont", "font": "generaluser", "presets": {"org": ["0:16", ...], ...}}: exactly
  these presets, nothing else of the font.
- {"engine": "soundfont", "font": "fluidr3", "accompaniment": {"drums": ["128:0", ...],
  "bass": ["0:32", ...]}}: unlabelled accompaniment (class "drums" / "bass"), never a label.
"""

from __future__ import annotations

import numpy as np

from . import soundfont
from .engines import ENGINES, Instrument, Performance, SourceMissing, fit
from .render import FluidRenderer, PartRender
from .sources import CLASSES, FONTS, PROGRAM_NAMES, PROGRAMS, range_for

# Playable ranges of the unlabelled accompaniment.
ACCOMPANIMENT_RANGES = {"drums": (35, 81), "bass": (28, 55)}

_RENDERER: list[FluidRenderer] = []  # one synth per process, made on first use (after fork)


def renderer() -> FluidRenderer:
    if not _RENDERER:
        _RENDERER.append(FluidRenderer(tuple(FONTS)))
    return _RENDERER[0]


def _parse(bp: str) -> tuple[int, int]:
    b, p = bp.split(":")
    return int(b), int(p)


class SoundFontEngine:
    name = "soundfont"
    monophonic = False

    def _inst(self, family: str, cls: str, font: str, bank: int, prog: int) -> Instrument:
        rng_ = ACCOMPANIMENT_RANGES[cls] if cls in ACCOMPANIMENT_RANGES else range_for(cls, prog)
        kind = "drum kit" if bank == 128 else PROGRAM_NAMES.get(prog, f"program {prog}")
        return Instrument(
            family=family,
            cls=cls,
            key=f"{font}:{bank}:{prog}",
            engine=self.name,
            range=rng_,
            params=(("font", font), ("bank", bank), ("program", prog)),
            label=f"{FONTS[font].file} {bank}:{prog} {kind}",
        )

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        font = member["font"]
        if font not in FONTS:
            raise ValueError(f"unknown SoundFont {font!r} (sources.FONTS)")
        out = []
        if "accompaniment" in member:
            for cls, presets in member["accompaniment"].items():
                out += [self._inst(family, cls, font, *_parse(bp)) for bp in presets]
            return out
        if "presets" in member:
            for cls, presets in member["presets"].items():
                if cls not in CLASSES:
                    raise ValueError(f"unknown class {cls!r} in {family}")
                out += [self._inst(family, cls, font, *_parse(bp)) for bp in presets]
            return out
        classes = CLASSES if member.get("classes", "all") == "all" else tuple(member["classes"])
        excluded = set(member.get("exclude", []))
        for cls in classes:
            for prog in PROGRAMS[cls]:
                inst = self._inst(family, cls, font, 0, prog)
                if inst.key not in excluded:
                    out.append(inst)
        return out

    def check(self, inst: Instrument) -> None:
        f = FONTS[inst.param("font")]
        try:
            path = f.path()
        except FileNotFoundError as e:
            raise SourceMissing(str(e)) from None
        sf = soundfont.load(path)
        bank, prog = inst.param("bank"), inst.param("program")
        if (bank, prog) not in sf.presets():
            raise SourceMissing(f"{f.file} has no preset {bank}:{prog} ({inst.key})")
        if not sf.preset_samples(bank, prog, inst.range):
            raise SourceMissing(f"{f.file} preset {bank}:{prog} plays no sample in {inst.range}")

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        part = PartRender(
            inst.param("font"), inst.param("bank"), inst.param("program"), perf.notes, perf.ccs, perf.bends
        )
        return fit(renderer().render_part(part, duration), duration)

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        sf = soundfont.load(FONTS[inst.param("font")].path())
        out = []
        for i in sf.preset_samples(inst.param("bank"), inst.param("program"), keys):
            x, sr = sf.decode(i)
            out.append((f"{inst.param('font')}#{i}", x, sr))
        return out

    def describe(self, member: dict) -> dict:
        f = FONTS[member["font"]]
        return {"source": f.file, "package": f.package, "license": f.license, "attribution": f.license}


ENGINES["soundfont"] = SoundFontEngine()
