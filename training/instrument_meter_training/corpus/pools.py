"""The audio-level check that keeps recording families apart (pools.json, families.py).

For every class and every pair of families that both have recordings of it, every recording one
family can play is compared with every recording of the other (decoded audio: sf2 PCM, sf3 Vorbis,
WAV, WavPack...; names are never used). A pair shares a recording when the max normalised
cross-correlation of 0.4 s after one's onset slid inside 1 s of the other's reaches 0.9. The build
fails when any pair of families shares a recording of a class.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os

import numpy as np

from .engines import load_engines
from .families import Catalog

CHECK_RATE = 16000
THRESHOLD = 0.9


def _onset_window(x: np.ndarray, seconds: float) -> np.ndarray:
    x = np.diff(
        x - x.mean(), prepend=0.0
    )  # pre-emphasis: near-sinusoids of different recordings must not match
    peak = np.abs(x).max() if len(x) else 0.0
    if peak <= 0:
        return x[:1]
    start = int(np.argmax(np.abs(x) > 0.01 * peak))
    return x[start : start + int(seconds * CHECK_RATE)].astype(np.float64)


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


LONG_S, SHORT_S = 1.0, 0.4
_NFFT = 1 << int(np.ceil(np.log2((LONG_S + SHORT_S) * CHECK_RATE)))
_PREP: dict = {}


def _prepare(rec_id: str, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    if rec_id not in _PREP:
        import soxr

        x = np.asarray(x, np.float64)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if sr != CHECK_RATE and len(x) > 16:
            x = soxr.resample(x, sr, CHECK_RATE)
        _PREP[rec_id] = (_onset_window(x, SHORT_S), _onset_window(x, LONG_S))
    return _PREP[rec_id]


def _inside(shorts: list[np.ndarray], longs: list[np.ndarray]) -> np.ndarray:
    """S[i, j] = ncc_max(shorts[i] slid fully inside longs[j]) (the same measure, batched)."""
    L = int(LONG_S * CHECK_RATE)
    out = np.zeros((len(shorts), len(longs)))
    if not shorts or not longs:
        return out
    lb = np.array([len(b) for b in longs])
    B = np.zeros((len(longs), L))
    for j, b in enumerate(longs):
        B[j, : len(b)] = b[:L]
    FB = np.fft.rfft(B, _NFFT, axis=1)
    E = np.concatenate([np.zeros((len(longs), 1)), np.cumsum(B * B, axis=1)], axis=1)
    for i, a in enumerate(shorts):
        la = len(a)
        if la < 32:
            continue
        c = np.fft.irfft(FB * np.conj(np.fft.rfft(a, _NFFT))[None, :], _NFFT, axis=1)[:, : L - la + 1]
        eb = E[:, la:] - E[:, : L - la + 1]
        pos = np.arange(L - la + 1)[None, :]
        valid = pos <= (lb - la)[:, None]
        ebv = np.where(valid, eb, 0.0)
        valid &= eb > 1e-3 * ebv.max(axis=1, keepdims=True)
        r = np.abs(c) / np.sqrt(np.maximum(eb, 1e-20) * float(a @ a))
        out[i] = np.where(valid, r, 0.0).max(axis=1)
    return out


def match_matrix(xa: list, xb: list) -> np.ndarray:
    """recording_match for every pair: max of (a's onset inside b) and (b's onset inside a)."""
    s1 = _inside([x[0] for x in xa], [y[1] for y in xb])
    s2 = _inside([y[0] for y in xb], [x[1] for x in xa])
    return np.maximum(s1, s2.T)


def family_recordings(cat: Catalog, cls: str) -> dict[str, dict[str, tuple]]:
    """family -> {recording id: prepared windows} for the recordings its instruments of cls play."""
    engines = load_engines()
    out: dict[str, dict[str, tuple]] = {}
    for fam in cat.covering(cls):
        recs: dict[str, tuple] = {}
        for inst in fam.instruments:
            if inst.cls != cls:
                continue
            for rid, x, sr in engines[inst.engine].recordings(inst, inst.range):
                recs[rid] = _prepare(rid, x, sr)
        if recs:
            out[fam.key] = recs
    return out


def _digest(per_class: dict) -> str:
    h = hashlib.sha1(f"v2 {THRESHOLD} {SHORT_S} {LONG_S} {CHECK_RATE}".encode())
    for cls, fams in per_class.items():
        for fam, recs in fams.items():
            for rid, (_short, b) in sorted(recs.items()):
                h.update(f"{cls}/{fam}/{rid}".encode())
                h.update(np.ascontiguousarray(b, np.float32).tobytes())
    return h.hexdigest()[:16]


def check_families(cat: Catalog, classes, cache_dir: str | None = None, progress: bool = False) -> dict:
    """All-pairs check across families, per class. Cached by the decoded audio itself.

    Returns {"ok", "threshold", "method", "recordings": {cls: {family: n}}, "pairs": {cls: {"A|B":
    [frac A->B, frac B->A, max ncc]}}, "matches": [...]}: a match is a recording of family A with
    an NCC >= THRESHOLD to one of family B (same class). ok is False when there is any match.
    """
    per_class = {cls: family_recordings(cat, cls) for cls in classes}
    key = _digest(per_class)
    cache = os.path.join(cache_dir, f"family-check-{key}.json") if cache_dir else None
    if cache and os.path.exists(cache):
        with open(cache) as f:
            res = json.load(f)
        res["cached"] = True
        return res
    res = {
        "ok": True,
        "threshold": THRESHOLD,
        "method": (
            f"every recording each family can play for the class (decoded audio), resampled to {CHECK_RATE} Hz, "
            f"first difference (pre-emphasis), trimmed to onset; {SHORT_S} s of one slid inside {LONG_S} s of the "
            f"other, both ways; shared = max normalised cross-correlation >= {THRESHOLD}"
        ),
        "classes": list(classes),
        "recordings": {cls: {f: len(r) for f, r in fams.items()} for cls, fams in per_class.items()},
        "pairs": {},
        "matches": [],
    }
    work = [(cls, a, b) for cls, fams in per_class.items() for a, b in itertools.combinations(fams, 2)]
    it = work
    if progress:
        from tqdm import tqdm

        it = tqdm(work, desc="family check (all pairs)", unit="pair")
    for cls, fa, fb in it:
        ra, rb = per_class[cls][fa], per_class[cls][fb]
        ida, idb = list(ra), list(rb)
        m = match_matrix([ra[i] for i in ida], [rb[j] for j in idb])
        hit = m >= THRESHOLD
        res["pairs"].setdefault(cls, {})[f"{fa}|{fb}"] = [
            round(float(hit.any(axis=1).mean()), 3),
            round(float(hit.any(axis=0).mean()), 3),
            round(float(m.max()), 4),
        ]
        for i, j in zip(*np.nonzero(hit)):
            res["matches"].append(
                {"class": cls, "a": f"{fa}/{ida[i]}", "b": f"{fb}/{idb[j]}", "ncc": round(float(m[i, j]), 4)}
            )
    res["ok"] = not res["matches"]
    if cache:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, cache)
    return res
