"""Recording pools (the shipped pools.json) and the audio-level check that keeps them apart.

The check decodes every sample that the presets of each side can play (sf2 PCM, sf3 Vorbis) and
asserts that no test-pool sample has a >= 0.9 normalised cross-correlation match with any
training-pool sample of the same class. Sample names are never used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from . import soundfont, sources

POOLS_JSON = os.path.join(os.path.dirname(__file__), "pools.json")
CHECK_RATE = 16000
THRESHOLD = 0.9
# Classes checked by the quick (small-scale / test-suite) check: those where the measured overlap
# between the font families is non-zero or where presets were excluded (voice, sax, trumpet, flute).
QUICK_CLASSES = ("flu", "sax", "tru", "voi")


@dataclass(frozen=True)
class Preset:
    pool: str
    font: str
    bank: int
    program: int

    @property
    def key(self) -> str:
        return f"{self.font}:{self.bank}:{self.program}"


@dataclass(frozen=True)
class Voice:
    pool: str
    voice: str

    @property
    def key(self) -> str:
        return self.voice


@dataclass
class PoolSide:
    name: str  # "train" or "test"
    presets: dict[str, list[Preset]] = field(default_factory=dict)  # class -> presets
    voices: dict[str, list[Voice]] = field(default_factory=dict)  # class -> singing voices


def load_pools(path: str = POOLS_JSON) -> dict:
    with open(path) as f:
        return json.load(f)


def side(name: str, pools: dict | None = None) -> PoolSide:
    """Presets and voices per class of one side ("train" or "test") of the pool definition."""
    pools = pools or load_pools()
    out = PoolSide(name, {c: [] for c in sources.CLASSES}, {c: [] for c in sources.CLASSES})
    for pool_name, spec in pools[name].items():
        classes = sources.CLASSES if spec.get("classes") == "all" else tuple(spec["classes"])
        excluded = set(spec.get("exclude", []))
        for cls in classes:
            for font in spec.get("fonts", []):
                for prog in sources.PROGRAMS[cls]:
                    p = Preset(pool_name, font, 0, prog)
                    if p.key not in excluded:
                        out.presets[cls].append(p)
            for v in spec.get("voices", []):
                out.voices[cls].append(Voice(pool_name, v))
    return out


def _onset_window(x: np.ndarray, seconds: float) -> np.ndarray:
    x = np.diff(
        x - x.mean(), prepend=0.0
    )  # pre-emphasis: near-sinusoids of different recordings must not match
    peak = np.abs(x).max() if len(x) else 0.0
    if peak <= 0:
        return x[:1]
    start = int(np.argmax(np.abs(x) > 0.01 * peak))
    return x[start : start + int(seconds * CHECK_RATE)].astype(np.float64)


def _decoded(font: str, index: int, _cache: dict = {}) -> tuple[np.ndarray, np.ndarray]:  # noqa: B006
    key = (font, index)
    if key not in _cache:
        import soxr

        sf = soundfont.load(sources.FONTS[font].path())
        x, sr = sf.decode(index)
        if sr != CHECK_RATE and len(x) > 16:
            x = soxr.resample(x, sr, CHECK_RATE)
        _cache[key] = (_onset_window(x, 0.4), _onset_window(x, 1.0))
    return _cache[key]


def ncc_max(a: np.ndarray, b: np.ndarray) -> float:
    """Max normalised cross-correlation of the shorter signal slid fully inside the longer one."""
    if len(a) > len(b):
        a, b = b, a
    la, lb = len(a), len(b)
    if la < 32:
        return 0.0
    n = 1 << int(np.ceil(np.log2(la + lb)))
    c = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)[: lb - la + 1]
    e = np.concatenate(([0.0], np.cumsum(b * b)))
    eb = e[la:] - e[: lb - la + 1]
    den = np.sqrt(np.maximum(eb, 1e-20) * float(a @ a))
    ok = eb > 1e-3 * eb.max()
    return float(np.max(np.abs(c[ok]) / den[ok])) if ok.any() else 0.0


def recording_match(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> float:
    """Similarity of two recordings: 0.4 s after the onset of one found inside 1 s of the other."""
    return max(ncc_max(x[0], y[1]), ncc_max(y[0], x[1]))


def preset_sample_ids(p: Preset, cls: str | None = None) -> list[int]:
    """Samples the preset can play; with cls, only within the key range the corpus plays for it."""
    keys = sources.range_for(cls, p.program) if cls else (0, 127)
    return soundfont.load(sources.FONTS[p.font].path()).preset_samples(p.bank, p.program, keys)


def check_pool_split(classes=sources.CLASSES, pools: dict | None = None, progress: bool = False) -> dict:
    """Compare every test-side sample with every train-side sample of the same class.

    Only the samples the presets play inside the class's key range (sources.range_for, the range the
    renderer folds every note into) are compared.

    Returns {"ok": bool, "threshold": 0.9, "classes": {cls: {...}}, "matches": [...]}: a match is a
    (class, test font/sample, train font/sample, score) with score >= THRESHOLD. Also fails when a
    preset on either side has no samples (it would render silence).
    """
    pools = pools or load_pools()
    tr, te = side("train", pools), side("test", pools)
    result = {"ok": True, "threshold": THRESHOLD, "method": "", "classes": {}, "matches": [], "missing": []}
    result["method"] = (
        f"decode every sample the presets can play (sf2 PCM / sf3 Vorbis), resample to {CHECK_RATE} Hz, "
        "first difference (pre-emphasis), trim to onset, slide 0.4 s of one inside 1.0 s of the other; match = max normalised "
        f"cross-correlation >= {THRESHOLD}"
    )
    it = classes
    if progress:
        from tqdm import tqdm

        it = tqdm(classes, desc="pool check", unit="class")
    for cls in it:
        train_ids = sorted({(p.font, i) for p in tr.presets[cls] for i in preset_sample_ids(p, cls)})
        test_ids = sorted({(p.font, i) for p in te.presets[cls] for i in preset_sample_ids(p, cls)})
        for p in tr.presets[cls] + te.presets[cls]:
            if not preset_sample_ids(p, cls):
                result["missing"].append(p.key)
        best = 0.0
        for tf, ti in test_ids:
            x = _decoded(tf, ti)
            for rf, ri in train_ids:
                s = recording_match(x, _decoded(rf, ri))
                best = max(best, s)
                if s >= THRESHOLD:
                    result["matches"].append(
                        {"class": cls, "test": f"{tf}#{ti}", "train": f"{rf}#{ri}", "ncc": s}
                    )
        result["classes"][cls] = {
            "train_samples": len(train_ids),
            "test_samples": len(test_ids),
            "max_ncc": round(best, 4),
        }
    result["ok"] = not result["matches"] and not result["missing"]
    return result


def font_overlap(font_a: str, font_b: str, cls: str) -> float:
    """Fraction of font_a's samples for cls with a >= 0.9 match among font_b's (recording-pools.md)."""
    a = sorted({i for prog in sources.PROGRAMS[cls] for i in preset_sample_ids(Preset("", font_a, 0, prog))})
    b = sorted({i for prog in sources.PROGRAMS[cls] for i in preset_sample_ids(Preset("", font_b, 0, prog))})
    if not a:
        return float("nan")
    hits = sum(
        any(recording_match(_decoded(font_a, i), _decoded(font_b, j)) >= THRESHOLD for j in b) for i in a
    )
    return hits / len(a)
