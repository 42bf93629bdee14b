"""`instrument-meter-train corpus`: build the substitute-IRMAS corpus."""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="output directory (train/, val/, test/, DATACARD.md, manifest.json)"
    )
    parser.add_argument(
        "--scale",
        choices=("small", "irmas"),
        default="small",
        help="small: tests (< 60 s); irmas: ~6.7k excerpts, 1k test clips",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (one FluidSynth each)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def summary(out: str, res: dict) -> str:
    c = res["manifest"]["counts"]
    return (
        f"corpus: {out}: train {c['train']['total']}, val {c['val']['total']}, test {c['test']['total']} "
        f"in {res['timing']['total_s']} s; family check {'PASS' if res['manifest']['family_check']['ok'] else 'FAIL'}"
    )


def run(args: argparse.Namespace) -> int:
    from .build import build

    res = build(args.out, scale=args.scale, seed=args.seed, jobs=args.jobs, progress=not args.no_progress)
    print(summary(args.out, res))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m instrument_meter_training.corpus.cli")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
