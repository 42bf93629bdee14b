"""Unlabelled rhythm section: drum grooves (General MIDI drum keys) and bass lines from the score.

IRMAS training excerpts often carry drums and bass under the labelled instrument; the model must
learn to ignore them rather than call them piano or voice. Everything is drawn from the item's rng.
"""

from __future__ import annotations

import numpy as np

from .render import Note

KICK, SNARE, SIDE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 37, 42, 44, 46, 49, 51
TOMS = (41, 43, 45, 47, 48, 50)

# One bar of 16 sixteenths per style: (key, steps, base velocity). Steps 0, 4, 8, 12 are the beats.
STYLES = {
    "rock": [(KICK, (0, 8, 10), 105), (SNARE, (4, 12), 100), (CLOSED_HAT, tuple(range(0, 16, 2)), 75)],
    "pop": [(KICK, (0, 6, 8), 100), (SNARE, (4, 12), 95), (CLOSED_HAT, tuple(range(16)), 55)],
    "halftime": [(KICK, (0, 3, 10), 100), (SNARE, (8,), 105), (CLOSED_HAT, tuple(range(0, 16, 2)), 70)],
    "ride": [
        (KICK, (0, 10), 85),
        (SIDE, (4, 12), 70),
        (RIDE, (0, 4, 6, 8, 12, 14), 70),
        (PEDAL_HAT, (4, 12), 55),
    ],
    "disco": [(KICK, (0, 4, 8, 12), 105), (SNARE, (4, 12), 90), (OPEN_HAT, (2, 6, 10, 14), 70)],
    "waltz": [(KICK, (0,), 95), (SNARE, (4, 8), 70), (CLOSED_HAT, (0, 2, 4, 6, 8, 10), 65)],
}


def drum_pattern(rng: np.random.Generator, spq: float, duration: float) -> tuple[list[Note], str]:
    """A humanised groove filling `duration` seconds at spq seconds per quarter, with fills."""
    style = str(rng.choice(sorted(STYLES)))
    bar_steps = 12 if style == "waltz" else 16
    step = spq / 4
    swing = float(rng.uniform(0.0, 0.25)) if rng.random() < 0.3 else 0.0
    offset = -float(rng.uniform(0, bar_steps)) * step  # the excerpt starts anywhere in the bar
    notes: list[Note] = []
    n_bars = int(np.ceil((duration - offset) / (bar_steps * step))) + 1
    for bar in range(n_bars):
        t0 = offset + bar * bar_steps * step
        fill = bar > 0 and rng.random() < 0.15
        for key, steps, vel in STYLES[style]:
            for s in steps:
                if s >= bar_steps or (fill and s >= bar_steps // 2):
                    continue
                _hit(notes, rng, t0, s, step, swing, key, vel)
        if fill:
            for s in range(bar_steps // 2, bar_steps):
                if rng.random() < 0.7:
                    _hit(notes, rng, t0, s, step, swing, int(rng.choice(TOMS + (SNARE,))), 90)
        if bar == 0 or (fill and rng.random() < 0.5):
            _hit(notes, rng, t0 + (bar_steps * step if fill else 0.0), 0, step, 0.0, CRASH, 95)
    notes = [n for n in notes if 0.0 <= n.on < duration]
    notes.sort(key=lambda n: (n.on, n.key))
    return notes, style


def _hit(notes, rng, t0, s, step, swing, key, vel):
    t = t0 + s * step + (swing * step if s % 2 else 0.0) + float(rng.normal(0, 0.006))
    v = int(np.clip(vel + rng.normal(0, 9), 20, 127))
    notes.append(Note(round(t, 5), round(t + 0.1, 5), int(key), v))


def bass_line(score: dict, start_q: float, dur_q: float, spq: float, rng, lo: int, hi: int) -> list[Note]:
    """The score's lowest part in the window, folded into [lo, hi], played detached or legato."""
    parts = score["parts"]
    low = min(range(len(parts)), key=lambda i: np.mean([n[2] for n in parts[i]["notes"]]))
    artic = float(rng.uniform(0.5, 0.95))
    out = []
    for on, d, m in parts[low]["notes"]:
        if on >= start_q + dur_q or on + d <= start_q:
            continue
        a = max(on, start_q) - start_q
        key = int(m)
        while key > hi:
            key -= 12
        while key < lo:
            key += 12
        t_on = a * spq
        out.append(
            Note(
                round(t_on, 5),
                round(t_on + max(0.08, (on + d - start_q - a) * spq * artic), 5),
                key,
                int(np.clip(rng.normal(90, 10), 40, 127)),
            )
        )
    return out
