"""Instrument Meter training package: corpus, training, evaluation and ONNX export.

Importing this package is cheap (no torch): the constants below are shared by every subcommand.
"""

import os as _os

# OpenMP threads that spin while waiting are catastrophic on a shared 2-core machine (measured:
# 2 threads ran 20x slower than 1 under load); passive waiting costs nothing when the CPU is free.
# This must happen before torch is imported, which every submodule does lazily after this.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

#: IRMAS class codes, in output order everywhere.
LABELS: tuple[str, ...] = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
#: Display names, same order as LABELS.
LABEL_NAMES: tuple[str, ...] = (
    "Cello",
    "Clarinet",
    "Flute",
    "Acoustic guitar",
    "Electric guitar",
    "Organ",
    "Piano",
    "Saxophone",
    "Trumpet",
    "Violin",
    "Voice",
)
#: Model sample rate (Hz) and analysis window (samples): 1-s windows at 22,050 Hz.
SAMPLE_RATE = 22050
WINDOW_SAMPLES = 22050
#: Windows whose RMS is below this level are silence: they score 0 (as the Rust runtime does).
SILENCE_DBFS = -60.0
#: Floor of the RMS normalisation, as in the model contract.
RMS_FLOOR = 1e-8
#: Version of docs/model-contract.md the exporter writes.
CONTRACT_VERSION = 1
