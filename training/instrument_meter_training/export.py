"""ONNX export per docs/model-contract.md: input ``audio`` float32 ``[batch, 1, window_samples]``
(dynamic batch), output ``probs`` ``[batch, classes]`` (sigmoid inside the graph), opset ≥ 17, and
every metadata field. Parity with onnxruntime is checked on real audio windows before anything is
written; a model that fails it is refused."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import torch

from . import CONTRACT_VERSION, __version__
from .data import load_audio, resolve_data_root, scan_test, scan_training
from .models import WithSigmoid, count_macs, count_params, describe
from .ort_runtime import parity, to_onnx
from .runs import fold_dirs, load_config, load_model
from .scoring import prepared_windows


class ExportError(RuntimeError):
    pass


def _parity_windows(cfg, files, max_windows: int = 16, cache_dir=None) -> np.ndarray:
    out = []
    for f in files:
        w, silent = prepared_windows(load_audio(f, cfg.sample_rate, cache_dir), cfg.window_samples, None,
                                     cfg.augment.normalize)  # fmt: skip
        out.extend(w[~silent][:2])
        if len(out) >= max_windows:
            break
    if not out:
        raise ExportError("no non-silent real audio window for the parity check (pass --parity-audio FILE)")
    return np.stack(out[:max_windows]).astype(np.float32)[:, None, :]


def _default_parity_files(cfg, test_dir: str | None) -> list[Path]:
    files: list[Path] = []
    if test_dir:
        try:
            files += [c.path for c in scan_test(test_dir, cfg.labels)][:8]
        except FileNotFoundError:
            pass
    try:
        ex = scan_training(resolve_data_root(cfg.data).train, cfg.labels)
        by_cls: dict[int, Path] = {}
        for e in ex:
            by_cls.setdefault(e.label, e.path)
        files += list(by_cls.values())
    except (FileNotFoundError, OSError):
        pass
    return files


def _val_mode(run_dir: Path, cfg) -> str:
    f = run_dir / "folds.json"
    mode = json.loads(f.read_text()).get("val_mode", cfg.val_mode) if f.is_file() else cfg.val_mode
    return {"cv": f"{cfg.folds}-fold CV", "dir": "val/ folder"}.get(mode, mode)


def _lofo_thresholds(lofo_dir: Path, labels, meta_metrics: dict) -> np.ndarray:
    """The out-of-family thresholds of a LOFO run (``lofo.json``), and its mean metrics put into
    ``meta_metrics["lofo"]``: a product model trained on every family ships what LOFO measured."""
    f = lofo_dir / "lofo.json"
    if not f.is_file():
        raise ExportError(f"--thresholds-from {lofo_dir}: no lofo.json (run `instrument-meter-train lofo`)")
    lofo = json.loads(f.read_text())
    if list(lofo["labels"]) != list(labels):
        raise ExportError(f"{f}: labels {lofo['labels']} differ from the model's {list(labels)}")
    meta_metrics["lofo"] = {
        "run": str(lofo_dir), "arch": lofo["arch"], "folds": [r["name"] for r in lofo["folds"]],
        "mean": lofo["mean"], "threshold_rule": lofo["calibration"]["rule"],
    }  # fmt: skip
    return np.clip(np.asarray(lofo["calibration"]["thresholds"], np.float64), 0.01, 0.99)


def export(
    run_dir,
    out,
    fold: int | None = None,
    ensemble: bool = False,
    parity_audio=None,
    model_name: str | None = None,
    model_version: str = __version__,
    training_data: str | None = None,
    opset: int = 17,
    tolerance: float = 1e-4,
    cache_dir=None,
    thresholds_from=None,
) -> dict:
    run_dir, out = Path(run_dir), Path(out)
    if opset < 17:
        raise ExportError("the model contract needs ONNX opset >= 17")
    cfg = load_config(run_dir)
    folds = fold_dirs(run_dir)
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    if ensemble:
        chosen = folds
    elif fold is not None:
        chosen = [f for f in folds if f[0] == fold]
        if not chosen:
            raise ExportError(f"fold {fold} is not finished in {run_dir}")
    else:
        chosen = [min(folds, key=lambda f: f[2]["val_loss"])]  # best fold by validation loss
    models = [load_model(cfg, d, "cpu") for _, d, _ in chosen]
    net = WithSigmoid(models).eval()
    thresholds = np.clip(np.mean([d["thresholds"] for _, _, d in chosen], axis=0), 0.01, 0.99)

    # metrics metadata: validation of the chosen folds, test results of the chosen fold / ensemble
    one = count_params(models[0])
    meta_metrics: dict = {
        "params": one * len(models),
        "macs_per_window": count_macs(models[0], cfg.window_samples) * len(models),
        "folds": [k for k, _, _ in chosen],
        "validation": {
            k: float(np.mean([d[k] for _, _, d in chosen]))
            for k in ("val_loss", "val_lrap", "val_f1_micro", "val_f1_macro")
        },
    }
    if metrics is not None:
        meta_metrics["test_dir"] = metrics["test_dir"]
        src = (
            metrics["ensemble"]
            if ensemble
            else next((f for f in metrics["folds"] if f["fold"] == chosen[0][0]), None)
        )
        if src is not None:
            for proto in ("honest", "paper"):
                r = src[proto]
                meta_metrics[f"test_{proto}"] = {
                    k: r[k] for k in ("lrap", "f1_micro", "f1_macro", "f1_per_class")
                }
                if proto == "paper":
                    meta_metrics["test_paper"]["threshold"] = r["threshold"]
        meta_metrics["test_folds_mean"] = {
            p: {k: metrics[p][k]["mean"] for k in ("lrap", "f1_micro", "f1_macro")}
            for p in ("honest", "paper")
        }
    if thresholds_from is not None:
        thresholds = _lofo_thresholds(Path(thresholds_from), cfg.labels, meta_metrics)
    arch = describe(cfg.arch, cfg.width) + (
        f"; ensemble of {len(models)} fold models" if len(models) > 1 else ""
    )
    data_desc = (
        training_data
        or cfg.training_data
        or (
            f"{cfg.data} ({_val_mode(run_dir, cfg)} validation, group by {cfg.group_by}, seed {cfg.seed}, crop {cfg.crop}, "
            f"mix_prob {cfg.augment.mix_prob})"
        )
    )
    props = {
        "contract_version": str(CONTRACT_VERSION),
        "labels": json.dumps(list(cfg.labels)),
        "label_names": json.dumps(list(cfg.label_names)),
        "sample_rate": str(cfg.sample_rate),
        "window_samples": str(cfg.window_samples),
        "normalization": cfg.augment.normalize,
        "thresholds": _thresholds_json(thresholds),
        "model_name": model_name or f"instrument-meter-{cfg.arch}",
        "model_version": model_version,
        "architecture": arch,
        "metrics": json.dumps(meta_metrics),
        "training_data": data_desc,
    }

    # parity inputs first: refuse early when there is no real audio
    files = (
        [Path(p) for p in parity_audio]
        if parity_audio
        else _default_parity_files(cfg, metrics and metrics.get("test_dir"))
    )
    cache = cache_dir if cache_dir is not None else cfg.cache_dir
    x = _parity_windows(cfg, files, cache_dir=None if cache == "" else cache)

    with _replaced_on_success(out) as tmp:
        m = to_onnx(net, torch.from_numpy(x[:2]), "probs", opset)
        _set_metadata(m, props)
        m.doc_string = f"Instrument Meter model ({arch}); contract docs/model-contract.md v{CONTRACT_VERSION}"
        onnx.checker.check_model(m)
        onnx.save(m, str(tmp))
        diff = parity(net, tmp, x)
        if not diff <= tolerance:
            raise ExportError(
                f"onnxruntime parity failed: max abs diff {diff:.3g} > {tolerance:g}; nothing written"
            )
    return {"path": str(out), "max_abs_diff": diff, "parity_windows": len(x), "metadata": props}


@contextmanager
def _replaced_on_success(out: Path):
    """A temporary file beside ``out`` that becomes ``out`` only if the block ends without an error:
    a refused model never replaces the one a user has."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmpd:
        tmp = Path(tmpd) / "model.onnx"
        yield tmp
        os.replace(tmp, out)


def _thresholds_json(thresholds) -> str:
    return json.dumps([round(float(t), 4) for t in thresholds])


def _set_metadata(m: onnx.ModelProto, props: dict) -> None:
    del m.metadata_props[:]
    for k, v in props.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v


def recalibrate(model, thresholds_from, out, model_version: str | None = None) -> dict:
    """An exported model with another LOFO run's out-of-family thresholds and figures (e.g. the
    recipe's LOFO run at the product model's own schedule) and nothing else changed: the graph and
    its weights are copied as they are, so no parity check is needed."""
    model, out = Path(model), Path(out)
    m = onnx.load(str(model))
    props = {p.key: p.value for p in m.metadata_props}
    missing = [k for k in ("labels", "thresholds", "metrics") if k not in props]
    if missing:
        raise ExportError(f"{model}: metadata lacks {missing}: not an Instrument Meter model")
    metrics = json.loads(props["metrics"])
    thresholds = _lofo_thresholds(Path(thresholds_from), json.loads(props["labels"]), metrics)
    props["thresholds"] = _thresholds_json(thresholds)
    props["metrics"] = json.dumps(metrics)
    if model_version:
        props["model_version"] = model_version
    _set_metadata(m, props)
    onnx.checker.check_model(m)
    with _replaced_on_success(out) as tmp:
        onnx.save(m, str(tmp))
    return {"path": str(out), "metadata": props}


def read_metadata(path) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}
