"""Hard-link a reproducible subset of a built corpus: training excerpts with item index < K per
class, every validation excerpt, the test clips with index < N (per fold folder), and pools.json.

Used when a model has to be trained before the full corpus build finishes: the corpus builder
draws every item from (seed, split, class, index), so the subset equals the first items of the
full build. Usage: python subset_corpus.py SRC DST --train-per-class K [--test-clips N]
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

TRAIN_INDEX = re.compile(r"\](\d+)__\d+\.wav$")
TEST_INDEX = re.compile(r"-(\d+)\.(wav|txt)$")


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    os.link(src, dst)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--train-per-class", type=int, required=True)
    ap.add_argument("--test-clips", type=int, default=None)
    a = ap.parse_args()
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        for f in sorted((a.src / split).glob("*/*.wav")):
            m = TRAIN_INDEX.search(f.name)
            if m is None:
                raise SystemExit(f"unexpected training file name: {f}")
            if split == "train" and int(m.group(1)) >= a.train_per_class:
                continue
            link(f, a.dst / split / f.parent.name / f.name)
            counts[split] = counts.get(split, 0) + 1
    for f in sorted((a.src / "test").rglob("*")):  # test/<fold>/ (corpus v2) or test/ (v1)
        m = TEST_INDEX.search(f.name)
        if f.is_file() and m and (a.test_clips is None or int(m.group(1)) < a.test_clips):
            link(f, a.dst / f.relative_to(a.src))
            counts["test files"] = counts.get("test files", 0) + 1
    for name in ("pools.json", "manifest.json", "DATACARD.md"):  # the LOFO folds live in pools.json
        if (a.src / name).is_file():
            link(a.src / name, a.dst / name)
    print(counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
