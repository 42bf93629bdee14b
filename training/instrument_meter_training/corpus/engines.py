"""The contract every sound source of the corpus implements, and the registry of engines.

A recording *family* (pools.json) is a set of sources that share recordings; an *instrument* is one
playable source of one class inside a family (a SoundFont preset, a per-note sample set, a singer,
a physical model). An *engine* knows how to play instruments of one kind:

    engine.instruments(member: dict, family: str) -> list[Instrument]
        expand one member entry of a family in pools.json into instruments (one per class/preset).
    engine.check(inst) -> None
        raise SourceMissing("... install Debian package X") when a file/program is absent.
    engine.render(inst, perf: Performance, duration: float, rng) -> np.ndarray
        mono float32 at SAMPLE_RATE, exactly round(duration * SAMPLE_RATE) samples, score time 0
        at sample 0. Only rng may be used for random choices (same seed -> same bytes).
    engine.recordings(inst, keys: tuple[int, int]) -> list[tuple[str, np.ndarray, int]]
        the raw recordings the instrument can play for MIDI keys in `keys` (id, mono float audio,
        sample rate) for the audio-level pool check; [] for synthetic engines and for singers
        (a singer's family is the speaker; diphone units are not comparable by cross-correlation).
    engine.describe(member: dict) -> dict
        {"package": Debian/npm/PyPI package(s), "license": ..., "attribution": ...} for the data card
        (CC-BY sources must be attributed).
    engine.monophonic: bool
        True for singers and monophonic models: the builder passes perform.monophonic() notes.

Voices are monophonic: the builder passes them perform.monophonic() notes. Engines register
themselves in ENGINES by module import (see load_engines()).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .render import Note
from .sources import SAMPLE_RATE

__all__ = ["ENGINES", "Instrument", "Performance", "SourceMissing", "SAMPLE_RATE", "load_engines", "fit"]


class SourceMissing(FileNotFoundError):
    """A source's file, package or program is not installed; the message names what to install."""


@dataclass(frozen=True)
class Instrument:
    family: str  # recording family key (pools.json)
    cls: str  # IRMAS class code
    key: str  # unique, stable id: "fluidr3:0:42", "tonejs:cello", "mbrola:es1", "stk:Bowed"
    engine: str  # key in ENGINES
    range: tuple[int, int]  # playable MIDI range (the builder transposes into it)
    params: tuple = ()  # engine-specific (key, value) pairs; use .param()
    label: str = ""  # human-readable name for the data card

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass
class Performance:
    notes: list[Note]  # seconds, MIDI key, velocity (polyphonic for chordal classes)
    ccs: list[tuple[float, int, int]] = field(default_factory=list)  # (time s, controller, value)
    bends: list[tuple[float, int]] = field(default_factory=list)  # (time s, -8192..8191)


ENGINES: dict = {}

# module name (relative to this package) of every engine; a module registers its engine objects
_ENGINE_MODULES = ("engine_soundfont", "engine_sampler", "engine_voices", "engine_synth")


def load_engines() -> dict:
    """Import every engine module present (each adds itself to ENGINES) and return ENGINES."""
    for m in _ENGINE_MODULES:
        try:
            importlib.import_module(f"{__package__}.{m}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{m}":
                raise
    return ENGINES


def fit(y: np.ndarray, duration: float) -> np.ndarray:
    """Pad or cut to exactly round(duration * SAMPLE_RATE) samples, float32."""
    n = int(round(duration * SAMPLE_RATE))
    y = np.asarray(y, np.float32)
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    return y[:n]
