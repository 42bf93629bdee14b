"""Move a corpus's training audio to a machine that can only receive a few tens of MB per transfer.

``pack``: decode every ``train/`` (and optionally ``val/``) excerpt at the model rate, concatenate them
(with short silent gaps so the codec does not smear one excerpt into the next) and write one
Ogg Vorbis stream per part plus a JSON index. ``--parts N --part K`` packs every N-th training excerpt
starting at K, so the parts can travel separately. ``unpack``: rebuild ``OUT/train/<cls>/<name>.wav``
(32-bit float, model rate) from one or more packs, which ``instrument-meter-train train --data OUT``
reads unchanged.

Vorbis at ``--quality 0.8`` (libsndfile's compression level) is ~34 kbit/s for 22.05 kHz mono, ~22 dB
waveform SNR: lossy, so use it for training only and choose thresholds / report metrics on clean audio
(``instrument-meter-train revalidate``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

GAP = 2048  # samples of silence between excerpts


def pack(corpus: Path, out: Path, splits: list[str], parts: int, part: int, quality: float, sr: int) -> None:
    import soundfile as sf

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from instrument_meter_training.data import default_cache_dir, load_many

    out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        files = sorted((corpus / split).glob("*/*.wav"))
        if split == "train":
            files = files[part::parts]
        audio = load_many(files, sr, default_cache_dir(), split)
        index = [[str(f.relative_to(corpus)), len(a)] for f, a in zip(files, audio)]
        gap = np.zeros(GAP, np.float32)
        stream = np.concatenate([np.concatenate([a.astype(np.float32), gap]) for a in audio])
        peak = float(np.max(np.abs(stream))) if len(stream) else 1.0
        scale = 1.0 if peak <= 0.999 else 0.999 / peak  # Vorbis clips at full scale
        name = f"{split}-{part}of{parts}" if split == "train" else split
        with sf.SoundFile(
            out / f"{name}.ogg", "w", sr, 1, format="OGG", subtype="VORBIS", compression_level=quality
        ) as f:  # in blocks: libsndfile's Vorbis writer crashes on one very long write
            for s in range(0, len(stream), 1 << 16):
                f.write(stream[s : s + (1 << 16)] * np.float32(scale))
        (out / f"{name}.json").write_text(
            json.dumps({"sample_rate": sr, "gap": GAP, "scale": scale, "files": index})
        )
        mb = (out / f"{name}.ogg").stat().st_size / 1e6
        print(f"{name}: {len(files)} excerpts, {len(stream) / sr:.0f} s -> {mb:.1f} MB", flush=True)


def unpack(packs: list[Path], out: Path) -> None:
    import soundfile as sf

    n = 0
    for p in packs:
        for meta_f in sorted(p.glob("*.json")):
            meta = json.loads(meta_f.read_text())
            x, sr = sf.read(meta_f.with_suffix(".ogg"), dtype="float32")
            if sr != meta["sample_rate"]:
                raise SystemExit(f"{meta_f}: rate {sr} != {meta['sample_rate']}")
            x = x / np.float32(meta["scale"])
            pos = 0
            for rel, length in meta["files"]:
                dst = out / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                sf.write(dst, x[pos : pos + length], sr, subtype="FLOAT")
                pos += length + meta["gap"]
                n += 1
    print(f"unpacked {n} excerpts into {out}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("corpus", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--splits", nargs="+", default=["train"], choices=["train", "val"])
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--quality", type=float, default=0.8, help="libsndfile compression level 0 (best) .. 1")
    p.add_argument("--sample-rate", type=int, default=22050)
    u = sub.add_parser("unpack")
    u.add_argument("packs", type=Path, nargs="+")
    u.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.cmd == "pack":
        pack(a.corpus, a.out, a.splits, a.parts, a.part, a.quality, a.sample_rate)
    else:
        unpack(a.packs, a.out)


if __name__ == "__main__":
    main()
