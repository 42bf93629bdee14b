"""Substitute-IRMAS corpus: SoundFonts rendered with FluidSynth playing real music21 scores.

`instrument-meter-train corpus --out DIR` writes single-label training/validation excerpts and
polyphonic held-out test clips in the IRMAS layout (see cli.py and DATACARD.md of a build).
"""
