"""Recorded note sets played as samplers, recorded guitar strums, and recorded drum kits.

Three engines over real recordings that are not SoundFonts:

- "sampler": per-note recordings played as a sampler: the nearest recorded note, resampled by at
  most `max_shift` semitones (3 for tonejs-instruments, whose notes are at most 4 semitones apart;
  6 for the GrandOrgue demo organ, recorded on F# and G of every octave), held by its own loop
  where the recording has one (organ pipes), released with a short natural fade at note-off.
  Members: {"engine": "sampler", "set": "tonejs", "instruments": ["cello", ...]} (npm packages
  tonejs-instrument-<name>-wav 1.1.0, which scripts/setup.sh unpacks into .setup/npm/), and
  {"engine": "sampler", "set": "grandorgue", "registrations": [["Montre8", "Octavin2"], ...]}
  (Debian grandorgue-demo: 7 recorded ranks, WavPack decoded once with `wvunpack` into the cache).
- "strums": Debian hydrogen-drumkits-effects' belofilms guitar strums (recorded acoustic-guitar
  chords, 96 kHz): each chord of the performance (notes starting together) plays the strum whose
  root is nearest its lowest note, up or down at random, cut at the next chord. Class gac.
- "drumkit": a Hydrogen drum kit (Debian hydrogen-drumkits), unlabelled accompaniment: General MIDI
  drum keys are mapped to the kit's instruments by name, velocity picks the layer.

Every random choice comes from the rng given to render(); decoded audio is cached in memory per
process, and the WavPack decode is lossless, so the cache never changes a byte of the output.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

import numpy as np

from . import scores
from .engines import ENGINES, SAMPLE_RATE, Instrument, Performance, SourceMissing, fit
from .sources import RANGES

NOTE_INDEX = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

TONEJS_VERSION = "1.1.0"
# npm package name -> class. Only these seven: the piano of that family reuses recordings of a set
# kept for independent testing (issue 11).
TONEJS = {
    "cello": "cel",
    "violin": "vio",
    "flute": "flu",
    "trumpet": "tru",
    "saxophone": "sax",
    "guitar-acoustic": "gac",
    "guitar-electric": "gel",
}
TONEJS_LICENSE = (
    "tonejs-instruments (Nicholaus P. Brosowsky; npm packages by Makefully Studios, MIT code): samples "
    "CC-BY 3.0 from VSCO-2 Community Edition (Versilian Studios), Karoryfer Samples, University of "
    "Iowa Musical Instrument Samples and Freesound contributors"
)
GRANDORGUE_PACKAGE = "/usr/share/GrandOrgue/packages"
GRANDORGUE_LICENSE = (
    "GrandOrgue demo sample set: GPL-2+ (2006 Milan Digital Audio LLC, GrandOrgue contributors)"
)
HYDROGEN_DRUMKITS = "/usr/share/hydrogen/data/drumkits"
STRUMS_KIT = "belofilms_GuitarStrums"
STRUMS_LICENSE = (
    "CC-BY 3.0 Unported: Gabriel Verdugo Soto (belofilms.com), Hydrogen kit belofilms_GuitarStrums"
)


def npm_dir() -> str:
    """Where scripts/setup.sh unpacks the npm sample packages (INSTRUMENT_METER_NPM_DIR overrides)."""
    return os.environ.get("INSTRUMENT_METER_NPM_DIR") or os.path.join(scores.repo_root(), ".setup", "npm")


def _mono(x: np.ndarray) -> np.ndarray:
    return (x.mean(axis=1) if x.ndim > 1 else x).astype(np.float32)


@functools.lru_cache(maxsize=512)
def _load(path: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Mono float32 at SAMPLE_RATE, leading silence trimmed (the onset lands on the score), and the
    first sustain loop (start, end) in output samples, if the file has a `smpl` chunk."""
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = _mono(x)
    loop = _smpl_loop(path)
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)
        loop = None if loop is None else tuple(int(round(v * SAMPLE_RATE / sr)) for v in loop)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    start = int(np.argmax(np.abs(x) > peak * 10 ** (-50 / 20))) if peak > 0 else 0
    if loop is not None:
        loop = (loop[0] - start, loop[1] - start) if loop[0] - start > 0 and loop[1] <= len(x) else None
    return x[start:], loop


def _smpl_loop(path: str) -> tuple[int, int] | None:
    if not path.endswith(".wav"):
        return None
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    i = head.find(b"smpl")
    if i < 0 or len(head) < i + 68:
        return None
    n_loops = int.from_bytes(head[i + 36 : i + 40], "little")
    if n_loops < 1:
        return None
    start = int.from_bytes(head[i + 52 : i + 56], "little")
    end = int.from_bytes(head[i + 56 : i + 60], "little")
    return (start, end) if end > start else None


def _note_key(name: str) -> int:
    """'As2' / 'Cs4' / 'F2 v2' (tonejs, scientific pitch: C4 = 60) -> MIDI key."""
    m = re.fullmatch(r"([A-G])(s?)(-?\d)", name.split(" ")[0])
    if not m:
        raise ValueError(f"not a note name: {name!r}")
    return 12 * (int(m.group(3)) + 1) + NOTE_INDEX[m.group(1)] + (1 if m.group(2) else 0)


def _release(y: np.ndarray, at: int, seconds: float) -> np.ndarray:
    """Cut at `at` samples with an exponential release of about `seconds` (-60 dB at the end)."""
    n = int(seconds * SAMPLE_RATE)
    tail = y[at : at + n]
    env = np.exp(-6.9 * np.arange(len(tail)) / max(1, n)).astype(np.float32)
    return np.concatenate([y[:at], tail * env])


def _sustain(x: np.ndarray, loop: tuple[int, int] | None, need: int) -> np.ndarray:
    """At least `need` samples: repeat the recording's loop (crossfaded) while the note is held."""
    if len(x) >= need or loop is None:
        return x
    a, b = loop
    seg = x[a:b]
    reps = int(np.ceil((need - a) / max(1, len(seg)))) + 1
    return np.concatenate([x[:a], np.tile(seg, reps)])


def _expression(ccs, duration: float) -> np.ndarray | None:
    """CC11 (expression) as a gain curve over the render, or None when the performance has none."""
    pts = [(t, v) for t, c, v in ccs if c == 11]
    if not pts:
        return None
    t = np.arange(int(round(duration * SAMPLE_RATE))) / SAMPLE_RATE
    ts, vs = zip(*sorted(pts))
    return (np.interp(t, ts, vs) / 127.0).astype(np.float32)


@dataclass(frozen=True)
class NoteSet:
    """Per-note recordings: MIDI key -> paths (alternative takes), and the largest shift allowed."""

    keys: tuple[tuple[int, tuple[str, ...]], ...]
    max_shift: int

    def covered(self, lo: int, hi: int) -> tuple[int, int]:
        ks = [k for k, _ in self.keys]
        return max(lo, min(ks) - self.max_shift), min(hi, max(ks) + self.max_shift)

    def locate(self, key: int) -> tuple[int, int, tuple[str, ...]]:
        """(key to sound, recorded key, its takes): a key outside the recorded range sounds an
        octave nearer; inside it, the nearest recording (at most max_shift away where the set has
        no gap)."""
        ks = [k for k, _ in self.keys]
        while key < ks[0] - self.max_shift:
            key += 12
        while key > ks[-1] + self.max_shift:
            key -= 12
        k, paths = min(self.keys, key=lambda kp: (abs(kp[0] - key), kp[0]))
        return key, k, paths

    def play(self, notes, duration: float, rng, release=(0.12, 0.35)) -> np.ndarray:
        import soxr

        n_out = int(round(duration * SAMPLE_RATE))
        out = np.zeros(n_out + SAMPLE_RATE, np.float32)
        rel = float(rng.uniform(*release))
        for note in notes:
            target, k, paths = self.locate(note.key)
            x, loop = _load(paths[int(rng.integers(len(paths)))])
            ratio = 2 ** ((target - k) / 12)
            held = max(0.03, note.off - note.on)
            x = _sustain(x, loop, int((held + rel) * ratio * SAMPLE_RATE) + 1)
            y = soxr.resample(x, SAMPLE_RATE * ratio, SAMPLE_RATE).astype(np.float32) if ratio != 1 else x
            y = _release(y, int(held * SAMPLE_RATE), rel) * (note.vel / 127.0) ** 1.5
            at = int(round(note.on * SAMPLE_RATE))
            if at >= n_out:
                continue
            seg = y[: len(out) - at]
            out[at : at + len(seg)] += seg
        return out[:n_out]


@functools.cache
def tonejs_set(name: str) -> NoteSet:
    d = os.path.join(npm_dir(), f"tonejs-instrument-{name}-wav")
    if not os.path.isfile(os.path.join(d, "package.json")):
        raise SourceMissing(
            f"npm package tonejs-instrument-{name}-wav@{TONEJS_VERSION} not found in {d} (run scripts/setup.sh)"
        )
    by_key: dict[int, list[str]] = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".wav"):
            by_key.setdefault(_note_key(f[:-4]), []).append(os.path.join(d, f))
    return NoteSet(tuple((k, tuple(v)) for k, v in sorted(by_key.items())), 3)


def grandorgue_dir() -> str:
    """The demo organ's ranks as WAV (decoded from WavPack once, into the corpus cache)."""
    pkgs = (
        sorted(f for f in os.listdir(GRANDORGUE_PACKAGE) if f.endswith(".orgue"))
        if os.path.isdir(GRANDORGUE_PACKAGE)
        else []
    )
    if not pkgs:
        raise SourceMissing(
            f"GrandOrgue demo organ not found in {GRANDORGUE_PACKAGE} (install Debian package grandorgue-demo)"
        )
    if shutil.which("wvunpack") is None:
        raise SourceMissing("wvunpack not found (install Debian package wavpack)")
    src = os.path.join(GRANDORGUE_PACKAGE, pkgs[0])
    out = os.path.join(os.path.dirname(scores.cache_dir()), "grandorgue-" + pkgs[0][:-6])
    if os.path.isdir(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out)) as tmp:
        with zipfile.ZipFile(src) as z:
            members = [m for m in z.namelist() if re.fullmatch(r"[A-Za-z0-9]+/\d{3}-[A-G]#?\.wav", m)]
            z.extractall(os.path.join(tmp, "wv"), members)
        for m in members:
            dst = os.path.join(tmp, "wav", m)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run(["wvunpack", "-q", "-y", os.path.join(tmp, "wv", m), "-o", dst], check=True)
        try:
            os.rename(os.path.join(tmp, "wav"), out)  # atomic: parallel workers race here
        except OSError:
            if not os.path.isdir(out):
                raise
    return out


@functools.cache
def grandorgue_rank(rank: str) -> NoteSet:
    d = os.path.join(grandorgue_dir(), rank)
    if not os.path.isdir(d):
        raise SourceMissing(f"GrandOrgue demo has no rank {rank!r}")
    keys = [(int(f[:3]), (os.path.join(d, f),)) for f in sorted(os.listdir(d)) if f.endswith(".wav")]
    return NoteSet(tuple(keys), 6)


class SamplerEngine:
    name = "sampler"
    monophonic = False

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        if member["set"] == "tonejs":
            out = []
            for name in member["instruments"]:
                if name not in TONEJS:
                    raise ValueError(f"tonejs-instrument-{name}-wav is not an allowed source (issue 11)")
                cls = TONEJS[name]
                out.append(
                    Instrument(
                        family,
                        cls,
                        f"tonejs:{name}",
                        self.name,
                        RANGES[cls],
                        (("set", "tonejs"), ("name", name)),
                        f"tonejs-instrument-{name}-wav {TONEJS_VERSION}",
                    )
                )
            return out
        if member["set"] == "grandorgue":
            return [
                Instrument(
                    family,
                    "org",
                    "grandorgue:" + "+".join(reg),
                    self.name,
                    RANGES["org"],
                    (("set", "grandorgue"), ("ranks", tuple(reg))),
                    "GrandOrgue demo " + " + ".join(reg),
                )
                for reg in member["registrations"]
            ]
        raise ValueError(f"sampler: unknown set {member['set']!r}")

    def _sets(self, inst: Instrument) -> list[NoteSet]:
        if inst.param("set") == "tonejs":
            return [tonejs_set(inst.param("name"))]
        return [grandorgue_rank(r) for r in inst.param("ranks")]

    def check(self, inst: Instrument) -> None:
        for s in self._sets(inst):
            lo, hi = s.covered(*inst.range)
            if hi - lo < 12:
                raise SourceMissing(f"{inst.key}: recorded notes cover only {lo}..{hi}")

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        organ = inst.param("set") == "grandorgue"
        y = sum(
            s.play(perf.notes, duration, rng, (0.08, 0.2) if organ else (0.12, 0.35))
            for s in self._sets(inst)
        )
        g = _expression(perf.ccs, duration)
        return fit(y if g is None else y * g, duration)

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        out = []
        for s in self._sets(inst):
            for k, paths in s.keys:
                if keys[0] <= k <= keys[1]:
                    out += [(p, _load(p)[0], SAMPLE_RATE) for p in paths]
        return out

    def describe(self, member: dict) -> dict:
        if member["set"] == "tonejs":
            names = ", ".join(f"tonejs-instrument-{n}-wav" for n in member["instruments"])
            return {
                "source": "tonejs-instruments",
                "package": f"npm {names} {TONEJS_VERSION}",
                "license": TONEJS_LICENSE,
                "attribution": TONEJS_LICENSE,
            }
        return {
            "source": "GrandOrgue demo organ",
            "package": "grandorgue-demo",
            "license": GRANDORGUE_LICENSE,
            "attribution": GRANDORGUE_LICENSE,
        }


# belofilms strum files: "<root>[ sharp| flat] <quality>[_UP|_DOWN]_NN.flac"
_STRUM = re.compile(
    r"([A-G])(sharp|flat)? ?(major|minor7b5|minro7b5|minor)?_?(UP|DOWN|Down)?_?\d+(wav)?\.flac"
)


@functools.cache
def strums() -> tuple[tuple[int, str], ...]:
    """(root pitch class, path) of every recorded strum."""
    d = os.path.join(HYDROGEN_DRUMKITS, STRUMS_KIT)
    if not os.path.isdir(d):
        raise SourceMissing(f"{d} not found (install Debian package hydrogen-drumkits-effects)")
    out = []
    for f in sorted(os.listdir(d)):
        m = _STRUM.fullmatch(f)
        if m:
            pc = (NOTE_INDEX[m.group(1)] + {"sharp": 1, "flat": -1}.get(m.group(2), 0)) % 12
            out.append((pc, os.path.join(d, f)))
    return tuple(out)


class StrumEngine:
    name = "strums"
    monophonic = False

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        return [
            Instrument(
                family, "gac", "belofilms:strums", self.name, RANGES["gac"], (), "belofilms guitar strums"
            )
        ]

    def check(self, inst: Instrument) -> None:
        if len(strums()) < 100:
            raise SourceMissing(f"only {len(strums())} guitar strums found (hydrogen-drumkits-effects)")

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        chords: list[list] = []
        for n in sorted(perf.notes, key=lambda n: n.on):
            if chords and n.on - chords[-1][0].on < 0.08:
                chords[-1].append(n)
            else:
                chords.append([n])
        n_out = int(round(duration * SAMPLE_RATE))
        out = np.zeros(n_out, np.float32)
        takes = strums()
        for i, ch in enumerate(chords):
            pc = min(n.key for n in ch) % 12
            cands = [p for c, p in takes if c == pc] or [p for _, p in takes]
            x, _ = _load(cands[int(rng.integers(len(cands)))])
            at = int(round(ch[0].on * SAMPLE_RATE))
            end = int(round(chords[i + 1][0].on * SAMPLE_RATE)) if i + 1 < len(chords) else at + len(x)
            y = _release(x, max(0, end - at), float(rng.uniform(0.05, 0.15)))
            y = y * (np.mean([n.vel for n in ch]) / 127.0) ** 1.5
            seg = y[: max(0, n_out - at)]
            out[at : at + len(seg)] += seg
        return fit(out, duration)

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        return [(p, _load(p)[0], SAMPLE_RATE) for _, p in strums()]

    def describe(self, member: dict) -> dict:
        return {
            "source": STRUMS_KIT,
            "package": "hydrogen-drumkits-effects",
            "license": STRUMS_LICENSE,
            "attribution": STRUMS_LICENSE,
        }


# General MIDI drum key -> name patterns of a Hydrogen kit's instruments, in order of preference.
GM_DRUMS = {
    36: [r"kick|bass ?drum|\bbd\b"],
    38: [r"snare(?!.*(rim|roll|stick))", r"snare"],
    37: [r"stick|rim", r"snare"],
    42: [r"(hat|hh).*clos|clos.*(hat|hh)", r"hat|hh"],
    44: [r"pedal", r"(hat|hh).*clos|clos.*(hat|hh)", r"hat|hh"],
    46: [r"open", r"hat|hh"],
    49: [r"crash", r"cymbal", r"ride"],
    51: [r"ride(?!.*bell)", r"ride", r"(hat|hh).*clos|clos.*(hat|hh)"],
}
TOM_KEYS = (41, 43, 45, 47, 48, 50)  # low to high


@functools.cache
def drumkit(kit: str) -> tuple[dict, str]:
    """({GM key: [(min vel, max vel, path, gain)]}, licence) of a Hydrogen kit."""
    d = os.path.join(HYDROGEN_DRUMKITS, kit)
    xml = os.path.join(d, "drumkit.xml")
    if not os.path.isfile(xml):
        raise SourceMissing(f"Hydrogen drum kit {d} not found (install Debian package hydrogen-drumkits)")
    root = ET.parse(xml).getroot()
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    insts = []
    for el in root.iter(f"{ns}instrument"):
        name = (el.findtext(f"{ns}name") or "").strip()
        layers = []
        for ly in el.iter(f"{ns}layer"):
            p = os.path.join(d, ly.findtext(f"{ns}filename") or "")
            if os.path.isfile(p):
                layers.append(
                    (
                        float(ly.findtext(f"{ns}min") or 0),
                        float(ly.findtext(f"{ns}max") or 1),
                        p,
                        float(ly.findtext(f"{ns}gain") or 1),
                    )
                )
        single = el.findtext(f"{ns}filename")  # the older format: one sample, no layers
        if not layers and single and os.path.isfile(os.path.join(d, single)):
            layers.append((0.0, 1.0, os.path.join(d, single), 1.0))
        if name and layers:
            insts.append((name, layers))
    mapping = {}
    for key, pats in GM_DRUMS.items():
        for pat in pats:
            hit = [ly for name, ly in insts if re.search(pat, name, re.I)]
            if hit:
                mapping[key] = hit[0]
                break
    toms = [ly for name, ly in insts if re.search(r"tom", name, re.I)]
    for i, key in enumerate(TOM_KEYS):
        if toms:
            mapping[key] = toms[min(len(toms) - 1, i * len(toms) // len(TOM_KEYS))]
    return mapping, (root.findtext(f"{ns}license") or root.findtext(f"{ns}licence") or "").strip()


class DrumKitEngine:
    name = "drumkit"
    monophonic = False

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        return [
            Instrument(
                family, "drums", f"hydrogen:{k}", self.name, (35, 81), (("kit", k),), f"Hydrogen kit {k}"
            )
            for k in member["kits"]
        ]

    def check(self, inst: Instrument) -> None:
        mapping, _ = drumkit(inst.param("kit"))
        missing = [k for k in (36, 38, 42) if k not in mapping]
        if missing:
            raise SourceMissing(f"{inst.key}: no kick/snare/hat instrument for GM keys {missing}")

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        mapping, _ = drumkit(inst.param("kit"))
        n_out = int(round(duration * SAMPLE_RATE))
        out = np.zeros(n_out, np.float32)
        for n in perf.notes:
            layers = mapping.get(n.key) or mapping.get(38)
            v = n.vel / 127.0
            ly = [x for x in layers if x[0] <= v <= x[1]] or layers
            _, _, path, gain = ly[int(rng.integers(len(ly)))]
            x, _ = _load(path)
            at = int(round(n.on * SAMPLE_RATE))
            if 0 <= at < n_out:
                seg = x[: n_out - at] * gain * v
                out[at : at + len(seg)] += seg
        return out

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        return []  # accompaniment is never a label: nothing to check across families

    def describe(self, member: dict) -> dict:
        lic = "; ".join(
            f"{k}: {drumkit(k)[1] or 'see /usr/share/doc/hydrogen-drumkits/copyright'}"
            for k in member["kits"]
        )
        return {
            "source": "Hydrogen drum kits " + ", ".join(member["kits"]),
            "package": "hydrogen-drumkits",
            "license": lic,
            "attribution": lic,
        }


ENGINES["sampler"] = SamplerEngine()
ENGINES["strums"] = StrumEngine()
ENGINES["drumkit"] = DrumKitEngine()
