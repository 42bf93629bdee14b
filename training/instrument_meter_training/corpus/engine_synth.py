"""Synthetic instrument family: the Synthesis ToolKit's physical models, the engine "stk".

Its own recording family in pools.json (kind "synthetic", a train-only fold; the leave-one-family-
out study decides whether it helps). The models (Debian `libstk-dev` + `stk` for the rawwaves) are
played by a small C++ program kept beside this file (native/stk_render.cpp), compiled with g++ on
first use into <cache>/native/ (the name carries a hash of the source); it reads a note list as
text on stdin and writes raw float32 mono at 44.1 kHz to stdout.
Member: {"engine": "stk"} (every model) or {"engine": "stk", "models": ["Bowed:vio", ...]}.

Model names (the "models" lists) are the keys of STK_MODELS below: "<model>" or
"<model>:<class>" when one model plays two classes (a bowed string as violin and as cello).

Every render draws its parameters from the rng it is given (bow pressure and position, reed
stiffness, breath noise, jet delay, vibrato rate, vowel, pluck position, brightness...), maps the
performance's CC1 (mod wheel) to the model's vibrato depth, its pitch bends to the pitch, and its
CC11 (expression) to the output level; velocity sets the excitation amplitude. The native programs
get an explicit seed from the rng: same rng -> same bytes. Notes are played one voice each and
summed (polyphonic; the guitar models give each note a string), so every engine is
monophonic = False.

Pitch: several waveguide models play slightly sharp or flat, depending on the key and on
parameters (STK's Bowed up to +45 cents at the top, Flute +26 cents at the default jet delay,
Saxofony -50 cents at the top). The measured deviation is a function per model (CENTS) and each
note is sent detuned by its opposite: every pitched model is within 50 cents of the score
(tests/test_engine_synth.py checks a sustained note of every model).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .engines import ENGINES, SAMPLE_RATE, Instrument, Performance, SourceMissing, fit

NATIVE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
STK_RAWWAVES = "/usr/share/stk/rawwaves"
STK_LICENSE = (
    "STK (Synthesis ToolKit in C++) 4.6, Perry R. Cook and Gary P. Scavone: MIT-style licence "
    "(Debian copyright 'other': permission to use, copy, modify, distribute; modifications are "
    "asked, not required, to be sent upstream); waveguide models possibly subject to Stanford/Yamaha "
    "patents (STK documentation)"
)


def native_cache() -> str:
    """<cache>/native/: compiled renderers (beside the score cache, as the corpus cache)."""
    from . import scores

    return os.path.join(os.path.dirname(scores.cache_dir()), "native")


def _compile(sources: dict[str, bytes], name: str, cmd: Callable[[str, str], list[str]]) -> str:
    """Compile once per source hash into native_cache(); atomic rename (parallel workers)."""
    h = hashlib.sha256()
    for k in sorted(sources):
        h.update(k.encode() + b"\0" + sources[k] + b"\0")
    h.update(" ".join(cmd("SRC", "OUT")).encode())
    out = os.path.join(native_cache(), f"{name}-{h.hexdigest()[:16]}")
    if os.path.exists(out):
        return out
    if shutil.which("g++") is None:
        raise SourceMissing("g++ not found (install Debian package g++)")
    os.makedirs(native_cache(), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=native_cache()) as tmp:
        for k, v in sources.items():
            with open(os.path.join(tmp, k), "wb") as f:
                f.write(v)
        exe = os.path.join(tmp, name)
        r = subprocess.run(cmd(tmp, exe), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"compiling {name} failed:\n{r.stderr[-3000:]}")
        os.replace(exe, out)
    return out


def _run(exe: str, text: str, n: int) -> np.ndarray:
    r = subprocess.run([exe], input=text.encode(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)} failed: {r.stderr.decode()[-2000:]}")
    y = np.frombuffer(r.stdout, np.float32)
    if len(y) != n:
        raise RuntimeError(f"{os.path.basename(exe)} wrote {len(y)} samples, expected {n}")
    return y.copy()


def _expression(perf: Performance, n: int) -> np.ndarray:
    """CC11 curve as a gain per sample (1 where the performance has none)."""
    pts = sorted((t, v) for t, c, v in perf.ccs if c == 11)
    if not pts:
        return np.ones(n, np.float32)
    t = np.array([p[0] for p in pts]) * SAMPLE_RATE
    v = np.array([p[1] for p in pts], np.float64) / 127.0
    return np.interp(np.arange(n), t, v).astype(np.float32)


def _events(
    perf: Performance,
    duration: float,
    cents: Callable[[float], float],
    vib: Callable[[int], float] | None,
    vib_cc: int,
) -> list[str]:
    lines = []
    for nt in perf.notes:
        if nt.on >= duration:
            continue
        key = nt.key - cents(nt.key) / 100.0
        lines.append(f"note {nt.on:.5f} {max(nt.off, nt.on + 0.01):.5f} {key:.4f} {int(nt.vel)}")
    if vib is not None:
        for t, c, v in perf.ccs:
            if c == 1 and t < duration:
                lines.append(f"cc {t:.5f} {vib_cc} {vib(v):.3f}")
    for t, v in perf.bends:
        if t < duration:
            lines.append(f"bend {t:.5f} {v * 2.0 / 8192:.5f}")
    return lines


def _interp_cents(table: dict[int, float]) -> Callable[[float], float]:
    ks = np.array(sorted(table), np.float64)
    cs = np.array([table[k] for k in sorted(table)], np.float64)
    return lambda key: float(np.interp(key, ks, cs))


# ---------------------------------------------------------------------------------------------- STK


@dataclass(frozen=True)
class StkModel:
    model: str  # STK class
    cls: str
    range: tuple[int, int]
    label: str
    params: Callable  # rng -> list[(cc, value)] sent to every voice before its note
    cents: Callable  # (key, params dict) -> measured deviation in cents (sent detuned by -cents)
    gain: float  # output scale to ~0.1 RMS at velocity 100
    vib_cc: int | None = 1  # STK controller of the vibrato depth (None: no CC1 mapping)
    vib_scale: float = 0.0  # STK value per unit of the performance's CC1 (0..127)
    vib_base: float = 0.0
    extra: tuple = field(default_factory=tuple)  # more header lines ("strings 6")


def _hz_cc(hz: float) -> float:
    """STK vibrato-frequency controller value for hz (value / 128 * 12 Hz in every model)."""
    return hz / 12.0 * 128.0


_BOWED_CENTS = _interp_cents({36: 1, 48: 1, 55: 2, 62: 3, 70: 7, 77: 11, 84: 18, 89: 26, 91: 31, 96: 47})
_SAX_CENTS = _interp_cents({44: -4, 50: -6, 56: -8, 62: -11, 68: -16, 74: -22, 80: -32})
_STRING_CENTS = _interp_cents({40: -3, 47: -5, 54: -7, 60: -10, 67: -15, 74: -23, 81: -34})


def _bowed(rng):
    return {2: rng.uniform(92, 118), 4: rng.uniform(76, 84), 11: _hz_cc(rng.uniform(4.5, 6.5))}


def _clarinet(rng):
    return {2: rng.uniform(55, 85), 4: rng.uniform(15, 55), 11: _hz_cc(rng.uniform(4.0, 6.0))}


def _sax(rng):
    return {
        2: rng.uniform(33, 50),
        26: rng.uniform(30, 45),
        4: rng.uniform(10, 30),
        11: rng.uniform(36, 44),
        29: _hz_cc(rng.uniform(4.5, 6.0)),
    }


def _flute(rng):
    return {2: rng.uniform(60, 70), 4: rng.uniform(25, 70), 11: _hz_cc(rng.uniform(4.5, 6.0))}


def _flute_cents(key, p):
    return 26.0 - 3.5 * (p[2] - 64.0) + max(0.0, key - 78) * 0.8


def _voice(rng):
    return {2: rng.uniform(0, 12), 128: rng.uniform(30, 100), 11: _hz_cc(rng.uniform(4.5, 6.5))}


def _guitar(rng):
    return {
        2: rng.uniform(0, 40),
        4: rng.uniform(20, 64),
        11: rng.uniform(110, 124),
        128: rng.uniform(40, 110),
    }


STK_MODELS: dict[str, StkModel] = {
    "Bowed:vio": StkModel(
        "Bowed",
        "vio",
        (55, 96),
        "STK Bowed string (violin range)",
        _bowed,
        lambda k, p: _BOWED_CENTS(k),
        1.4,
        1,
        0.045,
    ),
    "Bowed:cel": StkModel(
        "Bowed",
        "cel",
        (36, 76),
        "STK Bowed string (cello range)",
        _bowed,
        lambda k, p: _BOWED_CENTS(k),
        1.4,
        1,
        0.045,
    ),
    "Clarinet": StkModel(
        "Clarinet", "cla", (50, 89), "STK Clarinet", _clarinet, lambda k, p: 0.0, 0.25, 1, 0.3, 8
    ),
    "Saxofony": StkModel(
        "Saxofony",
        "sax",
        (44, 80),
        "STK Saxofony (blown string)",
        _sax,
        lambda k, p: _SAX_CENTS(k),
        0.2,
        1,
        0.3,
        8,
    ),
    "Flute": StkModel("Flute", "flu", (60, 93), "STK Flute", _flute, _flute_cents, 0.35, 1, 0.3, 8),
    "VoicForm": StkModel(
        "VoicForm",
        "voi",
        (45, 79),
        "STK VoicForm (formant singing voice)",
        _voice,
        lambda k, p: 0.0,
        1.0,
        1,
        0.04,
    ),
    "Guitar": StkModel(
        "Guitar",
        "gac",
        (40, 81),
        "STK Guitar (6 strings, body coupling)",
        _guitar,
        lambda k, p: _STRING_CENTS(k),
        1.0,
        None,
        extra=("strings 6",),
    ),
    "Plucked": StkModel(
        "Plucked",
        "gac",
        (40, 81),
        "STK Plucked (Karplus-Strong string)",
        lambda rng: {},
        lambda k, p: _STRING_CENTS(k),
        1.0,
        None,
    ),
}
VOWELS = ("aaa", "ahh", "eee", "ehh", "ihh", "ooo", "ohh", "uuu", "uhh", "aww")


def stk_binary() -> str:
    src = os.path.join(NATIVE_DIR, "stk_render.cpp")
    with open(src, "rb") as f:
        code = f.read()
    return _compile(
        {"stk_render.cpp": code},
        "stk_render",
        lambda d, out: ["g++", "-O2", "-o", out, os.path.join(d, "stk_render.cpp"), "-lstk"],
    )


def stk_render(model: str, perf: Performance, duration: float, rng) -> np.ndarray:
    """Render perf on STK_MODELS[model]: mono float32, exactly duration seconds."""
    m = STK_MODELS[model]
    p = m.params(rng)
    seed = int(rng.integers(1, 2**31 - 1))
    n = int(round(duration * SAMPLE_RATE))
    head = [
        f"model {m.model}",
        f"rate {SAMPLE_RATE}",
        f"length {n}",
        f"seed {seed}",
        f"rawwaves {STK_RAWWAVES}",
        *m.extra,
    ]
    head += [f"init {c} {v:.3f}" for c, v in p.items()]
    if m.vib_cc is not None:
        vib = lambda v: m.vib_base + m.vib_scale * v  # noqa: E731
        head.append(f"init {m.vib_cc} {vib(0):.3f}")
    else:
        vib = None
    ev = _events(perf, duration, lambda k: m.cents(k, p), vib, m.vib_cc or 1)
    if m.model == "VoicForm":  # a vowel per note
        ev = [e + f" {VOWELS[int(rng.integers(len(VOWELS)))]}" if e.startswith("note") else e for e in ev]
    y = _run(stk_binary(), "\n".join(head + ev) + "\n", n)
    return fit(y * m.gain * _expression(perf, n), duration)


def _check_stk() -> None:
    if not os.path.exists("/usr/include/stk/Stk.h") or not any(
        os.path.exists(os.path.join(d, "libstk.so"))
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib")
    ):
        raise SourceMissing("STK headers/library missing (install Debian package libstk-dev)")
    if not os.path.isdir(STK_RAWWAVES):
        raise SourceMissing(f"STK rawwaves {STK_RAWWAVES} missing (install Debian package stk)")
    if shutil.which("g++") is None:
        raise SourceMissing("g++ not found (install Debian package g++)")


def _models(member: dict, table: dict, engine: str) -> list[str]:
    names = member.get("models") or list(table)
    for nm in names:
        if nm not in table:
            raise ValueError(f"unknown {engine} model {nm!r} (one of {sorted(table)})")
    return list(names)


class StkEngine:
    name = "stk"
    monophonic = False

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        out = []
        for nm in _models(member, STK_MODELS, self.name):
            m = STK_MODELS[nm]
            out.append(
                Instrument(
                    family=family,
                    cls=m.cls,
                    key=f"stk:{nm}",
                    engine=self.name,
                    range=m.range,
                    params=(("model", nm),),
                    label=m.label,
                )
            )
        return out

    def check(self, inst: Instrument) -> None:
        _check_stk()

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        return stk_render(inst.param("model"), perf, duration, rng)

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        return []

    def describe(self, member: dict) -> dict:
        return {
            "source": "STK physical models: " + ", ".join(_models(member, STK_MODELS, self.name)),
            "package": "libstk-dev, stk",
            "license": STK_LICENSE,
            "attribution": "The Synthesis ToolKit in C++ (STK), Perry R. Cook and Gary P. Scavone",
        }


ENGINES["stk"] = StkEngine()


# ---------------------------------------------------------------------------------------- amp chain

LADSPA_DIR = "/usr/lib/ladspa"
AMP_LICENSE = "guitarix LADSPA plugins (Debian guitarix-ladspa): GPL-2+, Hermann Meyer and the guitarix team"


def _amp_chain(rng) -> tuple[list[str], dict]:
    """sox effect arguments of one amp + cabinet setting (clean, crunch or distorted), and a summary."""
    style = str(rng.choice(["clean", "crunch", "distortion"], p=[0.25, 0.35, 0.4]))
    gain = {"clean": (-10, 5), "crunch": (5, 20), "distortion": (15, 30)}[style]
    amp = dict(preamp=float(style != "clean"), gain=rng.uniform(*gain), bass=rng.uniform(-8, 8),
               treble=rng.uniform(-4, 12), feedback=rng.uniform(0, 0.3), feedforward=rng.uniform(0.4, 1.0))  # fmt: skip
    args = ["ladspa", "guitarix_amp.so", "guitarix_amp", *(f"{v:.3f}" for v in amp.values())]
    if style == "distortion":
        dist = [rng.uniform(4, 20), 0, rng.uniform(0.3, 1), rng.uniform(0.2, 0.8), rng.uniform(-12, 0),
                130, 5000, 1, 5000, 130, 1, 1, 0.01]  # fmt: skip
        args += ["ladspa", "guitarix_distortion.so", "guitarix-distortion", *(f"{v:.3f}" for v in dist)]
    cab = [rng.uniform(300, 1500), rng.uniform(600, 2000), rng.uniform(0, 6)]
    args += ["ladspa", "guitarix_IR.so", "guitarix_IR", *(f"{v:.3f}" for v in cab)]
    args += ["lowpass", f"{rng.uniform(3500, 7000):.0f}", "highpass", f"{rng.uniform(70, 140):.0f}"]
    return args, {"style": style, **{k: round(float(v), 2) for k, v in amp.items()}}


def amp(y: np.ndarray, rng) -> np.ndarray:
    """y through a drawn guitarix amp + cabinet (sox ladspa), same length, float32."""
    import soundfile as sf

    args, _ = _amp_chain(rng)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.wav"), os.path.join(d, "out.wav")
        sf.write(src, np.asarray(y, np.float32), SAMPLE_RATE, subtype="FLOAT")
        env = {**os.environ, "LADSPA_PATH": LADSPA_DIR}
        r = subprocess.run(
            ["sox", "-D", src, "-e", "floating-point", dst, *args], capture_output=True, env=env
        )
        if r.returncode != 0:
            raise RuntimeError(f"sox amp chain failed: {r.stderr.decode()[-500:]}")
        out, _ = sf.read(dst, dtype="float32")
    return fit(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), len(y) / SAMPLE_RATE)


class AmpEngine:
    """Clean STK string models (never recordings) through an amp + cabinet: class gel."""

    name = "amp"
    monophonic = False

    def instruments(self, member: dict, family: str) -> list[Instrument]:
        out = []
        for src in member.get("sources", ["Guitar", "Plucked"]):
            if STK_MODELS.get(src) is None or STK_MODELS[src].cls != "gac":
                raise ValueError(f"amp: source {src!r} is not an STK string model")
            out.append(Instrument(family=family, cls="gel", key=f"amp:stk:{src}", engine=self.name,
                                  range=(40, 84), params=(("model", src),), label=f"STK {src} through a guitarix amp"))  # fmt: skip
        return out

    def check(self, inst: Instrument) -> None:
        _check_stk()
        for so in ("guitarix_amp.so", "guitarix_distortion.so", "guitarix_IR.so"):
            if not os.path.exists(os.path.join(LADSPA_DIR, so)):
                raise SourceMissing(f"{LADSPA_DIR}/{so} missing (install Debian package guitarix-ladspa)")
        if shutil.which("sox") is None:
            raise SourceMissing("sox not found (install Debian package sox)")

    def render(self, inst: Instrument, perf: Performance, duration: float, rng) -> np.ndarray:
        return amp(stk_render(inst.param("model"), perf, duration, rng), rng)

    def recordings(self, inst: Instrument, keys: tuple[int, int]):
        return []

    def describe(self, member: dict) -> dict:
        return {
            "source": "guitarix amp chain on STK strings",
            "package": "guitarix-ladspa, sox, libstk-dev",
            "license": AMP_LICENSE,
            "attribution": AMP_LICENSE,
        }


ENGINES["amp"] = AmpEngine()
