"""FluidSynth rendering of note lists with expression, one synth per worker process.

Trap handled here (measured): a reused synth bleeds held voices into the next render unless it is
reset with system_reset FIRST and THEN all-sounds-off (CC 120) on every channel; the synth's own
reverb and chorus are off (reverb is applied offline), and a short flush after the reset discards
the few samples of the voice-off ramp.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import numpy as np

from .sources import FONTS, SAMPLE_RATE

N_CHANNELS = 16
FLUSH = 1024
BLOCK = 64  # FLUID_BUFSIZE
POLYPHONY = 128


@dataclass
class Note:
    on: float  # seconds
    off: float
    key: int
    vel: int


@dataclass
class PartRender:
    font: str
    bank: int
    program: int
    notes: list[Note]
    # controller curves: (time s, controller, value); pitch bends: (time s, value -8192..8191)
    ccs: list[tuple[float, int, int]] = field(default_factory=list)
    bends: list[tuple[float, int]] = field(default_factory=list)


class FluidRenderer:
    def __init__(self, fonts=tuple(FONTS)):
        import fluidsynth

        self._fs = fluidsynth
        # the priming chord in reset() asks for more voices than the polyphony on purpose: silence
        # FluidSynth's "Failed to allocate a synthesis process" warnings (level 2 = FLUID_WARN)
        fluidsynth._fl.fluid_set_log_function(2, None, None)
        self.synth = fluidsynth.Synth(
            gain=0.6,
            samplerate=SAMPLE_RATE,
            channels=N_CHANNELS,
            **{
                "synth.reverb.active": 0,
                "synth.chorus.active": 0,
                "synth.polyphony": POLYPHONY,
                "synth.cpu-cores": 1,
                # decode sf3 (Vorbis) samples on first use, not all at load (~20 s for MuseScore_General)
                "synth.dynamic-sample-loading": 1,
            },
        )
        self._write = fluidsynth._fl.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int] + [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ] * 2
        self._write.restype = ctypes.c_int
        self.sfids = {k: self.synth.sfload(FONTS[k].path()) for k in fonts}
        self._count = 0
        self.reset()

    def _out(self, n: int) -> np.ndarray:
        buf = np.zeros((2, n), np.float32)
        self._count += max(n, 0)
        if n > 0:
            self._write(self.synth.synth, n, buf[0].ctypes.data, 0, 1, buf[1].ctypes.data, 0, 1)
        return buf

    def _silence_all(self) -> None:
        self.synth.system_reset()
        for ch in range(N_CHANNELS):
            self.synth.cc(ch, 120, 0)

    def reset(self) -> None:
        """system_reset first, THEN all-sounds-off on every channel (the reverse order leaves voices).

        Reused voice objects keep state (filter history) that changes the next render slightly, so
        every voice is first overwritten by the same priming chord: a render then depends only on
        its own events, not on what the worker rendered before (same seed -> same bytes).
        """
        self._silence_all()
        if getattr(self, "sfids", None):
            self.synth.program_select(1, next(iter(self.sfids.values())), 0, 40)
            for k in range(128):
                self.synth.noteon(1, k, 100)
            self._out(BLOCK)
            self._silence_all()
        # FluidSynth renders in 64-sample blocks and applies events at block boundaries: start every
        # render on the same block phase, so a file does not depend on what the worker rendered before.
        self._out(FLUSH + (-(self._count + FLUSH)) % BLOCK)

    def render_part(self, part: PartRender, duration: float, tail: float = 0.6) -> np.ndarray:
        """Render one part alone (channel 0) to a mono float32 array of duration + tail seconds."""
        self.reset()
        ch = 0
        self.synth.program_select(ch, self.sfids[part.font], part.bank, part.program)
        total = int(round((duration + tail) * SAMPLE_RATE))
        ev: list[tuple[int, int, tuple]] = []
        for n in part.notes:
            a = int(round(n.on * SAMPLE_RATE))
            b = max(a + 1, int(round(n.off * SAMPLE_RATE)))
            if a >= total:
                continue
            ev.append((a, 2, (n.key, n.vel)))
            ev.append((min(b, total), 0, (n.key,)))
        for t, c, v in part.ccs:
            ev.append((int(round(t * SAMPLE_RATE)), 1, (c, v)))
        for t, v in part.bends:
            ev.append((int(round(t * SAMPLE_RATE)), 1, (-1, v)))
        ev.sort(key=lambda e: (e[0], e[1], e[2]))
        out = np.zeros((2, total), np.float32)
        cur = 0
        for t, kind, args in ev:
            t = min(max(t, 0), total)
            if t > cur:
                out[:, cur:t] = self._out(t - cur)
                cur = t
            if kind == 0:
                self.synth.noteoff(ch, args[0])
            elif kind == 2:
                self.synth.noteon(ch, args[0], args[1])
            elif args[0] < 0:
                self.synth.pitch_bend(ch, int(args[1]))
            else:
                self.synth.cc(ch, args[0], int(args[1]))
        if cur < total:
            out[:, cur:] = self._out(total - cur)
        self.reset()
        return out.mean(axis=0)

    def render_silence(self, seconds: float) -> np.ndarray:
        """Render with no notes (the no-bleed test: must be silent after any render)."""
        return self._out(int(seconds * SAMPLE_RATE)).mean(axis=0)
