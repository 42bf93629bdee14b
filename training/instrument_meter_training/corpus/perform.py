"""From a score window to a performance: tempo, transposition into range, articulation, velocity,
strummed chords, and expression controllers (CC11 swells, CC1 vibrato depth, pitch-bend drift)."""

from __future__ import annotations

import numpy as np

from .render import Note
from .sources import CHORDAL, EXPRESSIVE


def window(notes, start_q: float, dur_q: float):
    """Notes sounding in [start_q, start_q + dur_q): (on_q, dur_q, midi) relative to start_q."""
    out = []
    end_q = start_q + dur_q
    for on, d, m in notes:
        if on >= end_q or on + d <= start_q:
            continue
        a = max(on, start_q)
        out.append((a - start_q, on + d - a, m))
    return out


def fold(m: int, lo: int, hi: int) -> int:
    while m < lo:
        m += 12
    while m > hi:
        m -= 12
    return m


def choose_transposition(pitches, rng: np.random.Generator, lo: int, hi: int, step: int = 1) -> int:
    """A shift (multiple of step) that puts every pitch in [lo, hi], else the best-fitting one."""
    pmin, pmax = min(pitches), max(pitches)
    cands = [t for t in range(-48, 49) if t % step == 0 and pmin + t >= lo and pmax + t <= hi]
    if cands:
        return int(rng.choice(cands))
    mid = (lo + hi) / 2 - (pmin + pmax) / 2
    return int(round(mid / step) * step)


def performance(
    win_notes,
    transpose: int,
    rng: np.random.Generator,
    cls: str,
    spq: float,
    rng_lo: int,
    rng_hi: int,
    strum: bool = False,
) -> tuple[list[Note], list, list, dict]:
    """Notes in seconds with velocity/articulation, plus CC and pitch-bend curves."""
    expressive = cls in EXPRESSIVE
    base_vel = float(rng.uniform(55, 110))
    artic = float(rng.uniform(0.85, 1.0) if expressive else rng.uniform(0.6, 1.0))
    notes: list[Note] = []
    by_onset: dict[float, list] = {}
    for on, d, m in win_notes:
        by_onset.setdefault(round(on, 4), []).append((d, fold(m + transpose, rng_lo, rng_hi)))
    strum_dir = 1 if rng.random() < 0.7 else -1
    strum_ms = float(rng.uniform(8, 30))
    for on, group in sorted(by_onset.items()):
        group = sorted(set(group), key=lambda g: g[1] * strum_dir)
        accent = 8 if abs(on - round(on)) < 1e-3 else 0
        for j, (d, key) in enumerate(group):
            t_on = on * spq + (j * strum_ms / 1000 if strum and len(group) > 1 else 0.0)
            t_off = on * spq + max(0.05, d * spq * artic)
            vel = int(np.clip(base_vel + accent + rng.normal(0, 8), 20, 127))
            notes.append(Note(round(t_on, 5), round(max(t_off, t_on + 0.03), 5), int(key), vel))
    dur_s = max((n.off for n in notes), default=0.0) + 0.5
    ccs, bends = [], []
    if expressive:
        period = float(rng.uniform(1.5, 5.0))
        phase = float(rng.uniform(0, 2 * np.pi))
        mid, amp = float(rng.uniform(80, 115)), float(rng.uniform(5, 25))
        mod = float(rng.uniform(0, 70))
        drift_c = float(rng.uniform(0, 12))
        for t in np.arange(0.0, dur_s, 0.05):
            v = mid + amp * np.sin(2 * np.pi * t / period + phase)
            ccs.append((float(t), 11, int(np.clip(v, 30, 127))))
            if int(t * 20) % 2 == 0:
                ccs.append((float(t), 1, int(np.clip(mod + rng.normal(0, 5), 0, 127))))
                bends.append(
                    (float(t), int(np.clip(8192 * drift_c / 200 * np.sin(t * 1.3 + phase), -8192, 8191)))
                )
        info = {
            "expression": {
                "cc11_mid": round(mid),
                "cc11_amp": round(amp),
                "cc1_mod": round(mod),
                "bend_cents": round(drift_c, 1),
            }
        }
    else:
        e = int(rng.uniform(90, 127))
        ccs.append((0.0, 11, e))
        info = {"expression": {"cc11": e}}
    info.update(
        {
            "velocity_base": round(base_vel),
            "articulation": round(artic, 2),
            "strum_ms": round(strum_ms, 1) if strum else 0,
        }
    )
    return notes, ccs, bends, info


def monophonic(notes: list[Note]) -> list[tuple[float, float, int]]:
    """Highest note at each onset, each note cut at the next onset (for a solo singing voice)."""
    best: dict[float, Note] = {}
    for n in notes:
        if n.on not in best or n.key > best[n.on].key:
            best[n.on] = n
    seq = [best[k] for k in sorted(best)]
    out = []
    for i, n in enumerate(seq):
        off = min(n.off, seq[i + 1].on) if i + 1 < len(seq) else n.off
        out.append((n.on, off, n.key))
    return out


def is_chordal(cls: str) -> bool:
    return cls in CHORDAL
