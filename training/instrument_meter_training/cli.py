"""``instrument-meter-train``: corpus, train, lofo, lofo-ensemble, evaluate, export, recalibrate, revalidate, table, models, bench."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _corpus_module():
    try:
        from .corpus import cli as corpus_cli  # the corpus engineer's subpackage
    except ImportError as e:  # not there yet (or its dependencies are missing)
        return None, e
    return corpus_cli, None


def _add_train(sub, name: str = "train") -> None:
    from .dataset import AugmentConfig
    from .models import ARCHS
    from .runs import TrainConfig

    d, a = TrainConfig(), AugmentConfig()
    helps = {"train": "train one architecture with k-fold cross-validation (or on val/)",
             "lofo": "leave-one-family-out: train, test and calibrate with recording families as folds"}  # fmt: skip
    p = sub.add_parser(name, help=helps[name])
    p.add_argument("--data", help="training folder (IRMAS-TrainingData) or corpus root with train/ [val/]")
    p.add_argument("--arch", choices=ARCHS, default=d.arch)
    p.add_argument("--width", type=float, default=d.width, help="channel multiplier of the CNNs")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    p.add_argument("--folds", type=int, default=d.folds, help="k of k-fold CV (with --val-mode dir: k seeds)")
    p.add_argument("--fold-index", type=int, default=None, help="train only this fold")
    if name == "train":
        p.add_argument("--val-mode", choices=("auto", "cv", "dir", "family"), default=d.val_mode,
                       help="cv: folds grouped by source; dir: the data root's val/ (auto: dir when val/ "
                            "exists); family: LOFO folds of pools.json (as the lofo command)")  # fmt: skip
    else:
        p.add_argument("--engine", choices=("torch", "onnxruntime"), default="torch",
                       help="how the fold models score their held-out test clips")  # fmt: skip
    p.add_argument("--families", default=d.families,
                   help="recording families (second bracket) to use: 'all' (default) or a comma list")  # fmt: skip
    p.add_argument("--group-by", choices=("source", "pool"), default=d.group_by,
                   help="CV groups: source recording, or recording pool (second bracket; leave-one-pool-out)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--patience", type=int, default=d.patience, help="early stopping patience (epochs)")
    p.add_argument("--lr-schedule", choices=("plateau", "cosine"), default=d.lr_schedule,
                   help="plateau: multiply by --lr-factor after --lr-patience epochs without improvement; "
                        "cosine: decay to the minimum over --epochs, every batch (cannot be extended on resume)")  # fmt: skip
    p.add_argument("--lr-patience", type=int, default=d.lr_patience)
    p.add_argument("--lr-factor", type=float, default=d.lr_factor)
    p.add_argument("--crop", choices=("random", "windows"), default=d.crop,
                   help="random: --crops-per-excerpt random 1-s crops per excerpt per epoch; windows: every 1-s window")  # fmt: skip
    p.add_argument("--crops-per-excerpt", type=int, default=d.crops_per_excerpt)
    p.add_argument(
        "--mix-prob", type=float, default=a.mix_prob, help="on-the-fly mixing probability (0: off)"
    )
    p.add_argument("--no-mix", action="store_true", help="disable mixing augmentation")
    p.add_argument("--mix-max-sources", type=int, default=a.mix_max_sources)
    p.add_argument("--wave-aug-prob", type=float, default=a.wave_prob, help="gain/polarity/noise probability")
    p.add_argument("--eq-prob", type=float, default=a.eq_prob, help="random EQ / band-limit probability")
    g = p.add_argument_group("recording-identity augmentation (per source, before mixing; 0 = off)")
    g.add_argument("--pitch-prob", type=float, default=a.pitch_prob, help="pitch shift by resampling")
    g.add_argument("--pitch-semitones", type=float, default=a.pitch_semitones, help="shift range (±)")
    g.add_argument(
        "--envelope-prob", type=float, default=a.envelope_prob, help="smooth random spectral envelope"
    )
    g.add_argument("--envelope-db", type=float, default=a.envelope_db, help="envelope range (± dB)")
    g.add_argument("--reverb-prob", type=float, default=a.reverb_prob, help="synthetic room reverb")
    g.add_argument("--compress-prob", type=float, default=a.compress_prob, help="dynamic-range compression")
    g.add_argument("--distort-prob", type=float, default=a.distort_prob,
                   help="amp-style distortion of electric-guitar items")  # fmt: skip
    g.add_argument(
        "--codec-prob", type=float, default=a.codec_prob, help="low-pass + 8-bit mu-law round trip"
    )
    g.add_argument("--cross-family-mix", action="store_true",
                   help="mixture partners drawn from other recording families than the item")  # fmt: skip
    p.add_argument("--val-mix-fraction", type=float, default=d.val_mix_fraction)
    p.add_argument("--normalization", choices=("rms", "none"), default=a.normalize)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    p.add_argument(
        "--workers", type=int, default=d.workers, help="data loader processes (-1: 0 on CPU, up to 8 on CUDA)"
    )
    p.add_argument("--cache-dir", default=None, help="decoded-audio cache ('' disables; default cache/audio)")
    p.add_argument("--max-excerpts", type=int, default=None, help="subsample the training set")
    p.add_argument("--training-data", default="", help="description written into the model metadata")
    p.add_argument(
        "--batch-augment",
        choices=("auto", "on", "off"),
        default=d.batch_augment,
        help="draw crops/mixtures/augmentations as whole batches on the device (auto: on CUDA)",
    )
    p.add_argument(
        "--time-budget-min",
        type=float,
        default=None,
        help="per fold: stop before an epoch would end past this many minutes",
    )


def _add_scoring(p) -> None:
    """Options of the commands that run fold models over audio (revalidate, evaluate)."""
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--engine", choices=("torch", "onnxruntime"), default="torch",
                   help="run the models with PyTorch or (CPU) ONNX Runtime, the product's runtime")  # fmt: skip


def _run_train(args) -> int:
    from .dataset import AugmentConfig
    from .lofo import lofo, lofo_markdown
    from .runs import TrainConfig, load_config
    from .train import train

    if args.resume:
        cfg = load_config(args.out)
        for k in ("device", "threads", "workers", "batch_augment", "time_budget_min"):
            setattr(cfg, k, getattr(args, k))
        if args.fold_index is not None:
            cfg.fold_index = args.fold_index
        if args.epochs != TrainConfig().epochs:
            cfg.epochs = args.epochs
    else:
        if not args.data:
            raise SystemExit("train: --data is required (unless --resume)")
        aug = AugmentConfig(
            mix_prob=0.0 if args.no_mix else args.mix_prob, mix_max_sources=args.mix_max_sources,
            wave_prob=args.wave_aug_prob, eq_prob=args.eq_prob, normalize=args.normalization,
            pitch_prob=args.pitch_prob, pitch_semitones=args.pitch_semitones, envelope_prob=args.envelope_prob,
            envelope_db=args.envelope_db, reverb_prob=args.reverb_prob, compress_prob=args.compress_prob,
            distort_prob=args.distort_prob, codec_prob=args.codec_prob, cross_family_mix=args.cross_family_mix,
        )  # fmt: skip
        cfg = TrainConfig(
            data=args.data, arch=args.arch, width=args.width, folds=args.folds, fold_index=args.fold_index,
            val_mode=getattr(args, "val_mode", "family"), group_by=args.group_by, families=args.families, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, weight_decay=args.weight_decay, patience=args.patience, lr_patience=args.lr_patience,
            lr_schedule=args.lr_schedule, lr_factor=args.lr_factor, crop=args.crop, crops_per_excerpt=args.crops_per_excerpt, augment=aug,
            val_mix_fraction=args.val_mix_fraction, seed=args.seed, device=args.device, threads=args.threads,
            workers=args.workers, cache_dir=args.cache_dir, max_excerpts=args.max_excerpts,
            training_data=args.training_data, batch_augment=args.batch_augment,
            time_budget_min=args.time_budget_min,
        )  # fmt: skip
    if args.cmd == "lofo":
        r = lofo(cfg, args.out, resume=args.resume, engine=args.engine)
        print(lofo_markdown(r, cfg.label_names))
        return 0
    res = train(cfg, args.out, resume=args.resume)
    for r in res["folds"]:
        if r:
            print(f"fold {r['fold']}: best epoch {r['best_epoch']}, val loss {r['val_loss']:.4f}, "
                  f"val LRAP {r['val_lrap']:.3f}, {r['windows_per_s']:.0f} windows/s")  # fmt: skip
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="instrument-meter-train", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    corpus_cli, corpus_err = _corpus_module()
    pc = sub.add_parser("corpus", help="build the SoundFont training/test corpus")
    if corpus_cli is not None:
        corpus_cli.add_arguments(pc)

    _add_train(sub)
    _add_train(sub, "lofo")

    p = sub.add_parser(
        "revalidate", help="recompute a run's validation metrics and thresholds on other audio"
    )
    p.add_argument("run_dir")
    p.add_argument("--data", required=True, help="corpus root whose val/ replaces the one the run saw")
    _add_scoring(p)

    p = sub.add_parser(
        "lofo-ensemble", help="LOFO figures and out-of-family thresholds of an ensemble of LOFO runs"
    )
    p.add_argument("run_dirs", nargs="+", help="finished LOFO runs (same corpus and folds; e.g. other seeds)")
    p.add_argument("--out", required=True, help="folder for the ensemble's lofo.json / lofo.md")
    _add_scoring(p)

    p = sub.add_parser("evaluate", help="evaluate a run's fold models on a test folder")
    p.add_argument("run_dir")
    p.add_argument(
        "--test",
        default=None,
        help="test folder (wav + txt, searched recursively); default: the data root's test/",
    )
    p.add_argument("--out", default=None, help="where metrics.json/md and plots go (default: RUN_DIR)")
    p.add_argument(
        "--hop", type=float, default=None, help="window hop in seconds (default: 1, non-overlapping)"
    )
    _add_scoring(p)
    p.add_argument("--no-plots", action="store_true")

    p = sub.add_parser("export", help="export a run to ONNX (model contract)")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="model.onnx")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fold", type=int, default=None, help="export this fold (default: best validation loss)")
    g.add_argument("--ensemble", action="store_true", help="average every fold model inside one graph")
    p.add_argument("--parity-audio", nargs="*", default=None, help="real audio files for the parity check")
    p.add_argument("--model-name", default=None)
    p.add_argument("--model-version", default=__version__)
    p.add_argument("--training-data", default=None)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--thresholds-from", default=None, metavar="RUN_LOFO",
                   help="ship a LOFO run's out-of-family thresholds and its mean metrics (lofo.json)")  # fmt: skip

    p = sub.add_parser(
        "recalibrate", help="an exported model with a LOFO run's thresholds and figures, weights as they are"
    )
    p.add_argument("model", help="model.onnx (Instrument Meter metadata)")
    p.add_argument("--thresholds-from", required=True, metavar="RUN_LOFO", help="LOFO run (lofo.json)")
    p.add_argument("--out", required=True, help="new model.onnx (may be the same path)")
    p.add_argument("--model-version", default=None, help="new model_version (default: unchanged)")

    p = sub.add_parser("table", help="markdown table comparing evaluated runs (paper format)")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--protocol", choices=("both", "paper", "honest", "calibrated"), default="both",
                   help="with --lofo: honest, calibrated (default) or paper")  # fmt: skip
    p.add_argument(
        "--lofo", action="store_true", help="compare LOFO runs (lofo.json): per fold, mean, per class"
    )
    p.add_argument("--by-recipe", action="store_true",
                   help="with --lofo: one row per recipe, mean ± sd over its seeds, paired Δ to the first")  # fmt: skip

    p = sub.add_parser("models", help="markdown table of the architectures: layers, params, MACs")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--latency", action="store_true", help="also time onnxruntime inference (1 thread)")

    p = sub.add_parser("bench", help="steady-state training throughput (windows/s) of architectures")
    p.add_argument("--arch", nargs="*", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)

    args = parser.parse_args(argv)
    if args.cmd == "corpus":
        if corpus_cli is None:
            print(f"corpus: the corpus builder is not available ({corpus_err})", file=sys.stderr)
            return 2
        return int(corpus_cli.run(args) or 0)
    if args.cmd in ("train", "lofo"):
        return _run_train(args)
    if args.cmd == "lofo-ensemble":
        from .lofo import lofo_ensemble_report, lofo_markdown
        from .runs import load_config

        try:
            r = lofo_ensemble_report(args.run_dirs, args.out, args.device, args.engine, args.cache_dir)
        except (FileNotFoundError, ValueError) as e:
            parser.error(f"lofo-ensemble: {e}")
        print(lofo_markdown(r, load_config(args.run_dirs[0]).label_names))
        return 0
    if args.cmd == "evaluate":
        from .evaluate import evaluate, metrics_markdown
        from .runs import load_config

        m = evaluate(
            args.run_dir,
            args.test,
            args.out,
            args.hop,
            args.device,
            args.cache_dir,
            not args.no_plots,
            args.engine,
        )
        print(metrics_markdown(m, load_config(args.run_dir).label_names))
        return 0
    if args.cmd == "export":
        from .export import ExportError, export

        try:
            r = export(
                args.run_dir, args.out, args.fold, args.ensemble, args.parity_audio, args.model_name,
                args.model_version, args.training_data, args.opset, args.tolerance,
                thresholds_from=args.thresholds_from,
            )  # fmt: skip
        except ExportError as e:
            print(f"export refused: {e}", file=sys.stderr)
            return 1
        print(
            f"wrote {r['path']} (parity max abs diff {r['max_abs_diff']:.2e} on {r['parity_windows']} windows)"
        )
        return 0
    if args.cmd == "recalibrate":
        from .export import ExportError, recalibrate

        try:
            r = recalibrate(args.model, args.thresholds_from, args.out, args.model_version)
        except (ExportError, OSError, ValueError) as e:
            print(f"recalibrate refused: {e}", file=sys.stderr)
            return 1
        print(f"wrote {r['path']} (thresholds {r['metadata']['thresholds']})")
        return 0
    if args.cmd == "revalidate":
        from .train import revalidate

        for r in revalidate(args.run_dir, args.data, args.device, args.cache_dir, args.engine):
            print(f"fold {r['fold']}: val LRAP {r['device_val']['val_lrap']:.3f} -> {r['val_lrap']:.3f}, "
                  f"F1-macro {r['device_val']['val_f1_macro']:.3f} -> {r['val_f1_macro']:.3f}")  # fmt: skip
        return 0
    if args.cmd == "table" and args.lofo:
        from .lofo import lofo_table
        from .lofo_seeds import recipe_table

        protocol = "calibrated" if args.protocol == "both" else args.protocol
        try:
            print((recipe_table if args.by_recipe else lofo_table)(args.run_dirs, protocol))
        except (FileNotFoundError, ValueError) as e:
            parser.error(f"table: {e}")
        return 0
    if args.cmd == "table" and args.by_recipe:
        parser.error("table: --by-recipe needs --lofo (LOFO runs)")
    if args.cmd == "table":
        from .evaluate import table

        if args.protocol == "calibrated":
            parser.error("table: --protocol calibrated needs --lofo (LOFO runs)")
        protos = ("paper", "honest") if args.protocol == "both" else (args.protocol,)
        print(table(args.run_dirs, protos))
        return 0
    if args.cmd == "models":
        from .evaluate import model_table
        from .models import ARCHS

        print(model_table(ARCHS, args.width, args.latency))
        return 0
    if args.cmd == "bench":
        from .models import ARCHS
        from .train import bench

        for a in args.arch or ARCHS:
            r = bench(a, args.batch_size, args.steps, args.warmup, args.device, args.threads)
            print(json.dumps(r), flush=True)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
