"""Singing from real recorded voices: MBROLA diphone databases sung note by note.

Each note becomes one syllable (consonant + vowel) whose vowel holds the note's pitch with a
natural vibrato (5-6.5 Hz, +-1.5-3 %) written as MBROLA pitch points. MBROLA renders at 16 kHz
(its audio stops near 8 kHz): the corpus band-limits every class at random so bandwidth is no cue.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np

from .sources import SAMPLE_RATE, VOICES

PHONEMES = {
    "us": {
        "vowels": ["A", "i", "u", "E", "O", "@", "o"],
        "consonants": ["l", "m", "n", "d", "t", "s", "h", "w"],
    },
    "en": {
        "vowels": ["A:", "i:", "u:", "e", "O:", "@", "Q"],
        "consonants": ["l", "m", "n", "d", "t", "s", "h", "w"],
    },
}


class VoiceError(RuntimeError):
    """MBROLA refused a phrase (it can "PANIC" on some high-pitch diphone joins): the item retries."""


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def pho_text(notes, rng: np.random.Generator, phon: str, lead: float = 0.05) -> str:
    """notes: [(on_s, off_s, midi)] monophonic, sorted. Returns MBROLA .pho text."""
    ph = PHONEMES[phon]
    rate = rng.uniform(5.0, 6.5)
    depth = rng.uniform(0.012, 0.03)
    vowel_seq = rng.choice(ph["vowels"], size=len(notes))
    cons_seq = rng.choice(ph["consonants"] + [""] * 3, size=len(notes))
    lines = []
    t = 0.0
    for (on, off, m), v, c in zip(notes, vowel_seq, cons_seq):
        if on > t + 0.01:
            lines.append(f"_ {int((on - t) * 1000)}")
            t = on
        dur = max(0.08, off - t)
        f0 = midi_hz(m)
        cd = 0.0
        if c:
            cd = min(0.07, dur * 0.25)
            lines.append(f"{c} {int(cd * 1000)} 0 {f0:.1f} 100 {f0:.1f}")
        vd = dur - cd
        n_pts = max(2, int(vd * rate * 4))
        pts = []
        for k in range(n_pts + 1):
            frac = k / n_pts
            tt = frac * vd
            onset_ramp = min(1.0, tt / 0.25)  # vibrato grows in after the attack
            f = f0 * (1 + depth * onset_ramp * np.sin(2 * np.pi * rate * tt))
            pts.append(f"{frac * 100:.0f} {f:.1f}")
        lines.append(f"{v} {int(vd * 1000)} " + " ".join(pts))
        t = on + cd + vd if c else on + vd
    lines.append("_ 200")
    return f"_ {int(lead * 1000)}\n" + "\n".join(lines) + "\n"


def sing(voice_key: str, notes, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE, aligned so that t=0 is the score time 0 (length duration s)."""
    import soundfile as sf
    import soxr

    v = VOICES[voice_key]
    lead = 0.05
    with tempfile.TemporaryDirectory() as d:
        pho = os.path.join(d, "in.pho")
        wav = os.path.join(d, "out.wav")
        with open(pho, "w") as f:
            f.write(pho_text(notes, rng, v.phonemes, lead))
        r = subprocess.run(["mbrola", "-e", v.path(), pho, wav], capture_output=True)
        if r.returncode != 0 or not os.path.exists(wav):
            raise VoiceError(f"mbrola {v.database} exit {r.returncode}: {r.stderr[-200:]!r}")
        x, sr = sf.read(wav, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    y = soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)
    y = y[int(lead * SAMPLE_RATE) :]
    n = int(round(duration * SAMPLE_RATE))
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    return y[:n]
