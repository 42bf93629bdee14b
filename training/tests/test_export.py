import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import make_untrained_run

from instrument_meter_training import LABEL_NAMES, LABELS
from instrument_meter_training.export import ExportError, export, read_metadata
from instrument_meter_training.models import ARCHS

REQUIRED = ("labels", "sample_rate", "window_samples", "normalization")
ALL_KEYS = REQUIRED + (
    "contract_version", "label_names", "thresholds", "model_name", "model_version", "architecture",
    "metrics", "training_data",
)  # fmt: skip


def check_contract(path, n_classes=11):
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = m.graph.input
    (out,) = m.graph.output
    assert inp.name == "audio" and out.name == "probs"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert len(dims) == 3 and dims[0].dim_param and dims[1].dim_value == 1 and dims[2].dim_value == 22050
    odims = out.type.tensor_type.shape.dim
    assert odims[0].dim_param and odims[1].dim_value == n_classes
    meta = read_metadata(path)
    for k in ALL_KEYS:
        assert k in meta and meta[k], k
    assert json.loads(meta["labels"]) == list(LABELS)
    assert json.loads(meta["label_names"]) == list(LABEL_NAMES)
    assert meta["sample_rate"] == "22050" and meta["window_samples"] == "22050"
    assert meta["normalization"] in ("rms", "none") and int(meta["contract_version"]) == 1
    thr = json.loads(meta["thresholds"])
    assert len(thr) == n_classes and all(0 < t < 1 for t in thr)
    assert isinstance(json.loads(meta["metrics"]), dict)
    return meta


@pytest.mark.parametrize("arch", ARCHS)
def test_export_parity_every_arch(arch, fake_irmas, cache_dir, tmp_path):
    run = make_untrained_run(tmp_path / "run", arch, fake_irmas[0], cache_dir)
    r = export(run, tmp_path / "m.onnx")
    assert r["max_abs_diff"] <= 1e-4
    meta = check_contract(tmp_path / "m.onnx")
    assert meta["model_name"] == f"instrument-meter-{arch}"
    assert json.loads(meta["metrics"])["folds"] == [0]  # best fold by validation loss
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for b in (1, 5):
        p = sess.run(
            ["probs"], {"audio": np.random.default_rng(b).standard_normal((b, 1, 22050), np.float32)}
        )[0]
        assert p.shape == (b, 11) and ((p >= 0) & (p <= 1)).all()


def test_export_ensemble_and_fold(fake_irmas, cache_dir, tmp_path):
    run = make_untrained_run(tmp_path / "run", "fcn", fake_irmas[0], cache_dir, folds=3)
    export(run, tmp_path / "e.onnx", ensemble=True)
    meta = check_contract(tmp_path / "e.onnx")
    assert json.loads(meta["metrics"])["folds"] == [0, 1, 2]
    assert "ensemble of 3" in meta["architecture"]
    export(run, tmp_path / "f2.onnx", fold=2)
    assert json.loads(read_metadata(tmp_path / "f2.onnx")["metrics"])["folds"] == [2]


def test_export_refuses_on_parity_failure(fake_irmas, cache_dir, tmp_path, monkeypatch):
    import instrument_meter_training.export as ex

    run = make_untrained_run(tmp_path / "run", "fcn", fake_irmas[0], cache_dir, folds=1)
    monkeypatch.setattr(ex, "parity", lambda *a, **k: 1.0)
    with pytest.raises(ExportError, match="parity"):
        export(run, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "run"]  # no temporary left behind


@pytest.mark.parametrize("arch", ARCHS)
def test_conv1d_to_conv2d_keeps_results(arch, tmp_path):
    """The 2-D rewrite export applies gives the same probabilities as the plain 1-D graph, for
    every architecture (those with recurrent layers or mel front ends keep them 3-D)."""
    import torch

    from instrument_meter_training.conv2d import conv1d_to_conv2d
    from instrument_meter_training.models import WithSigmoid, build_model

    net = WithSigmoid([build_model(arch, 11)]).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        net, (torch.randn(2, 1, 22050),), str(path), input_names=["audio"], output_names=["probs"],
        dynamic_axes={"audio": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    plain = onnx.load(str(path))
    lifted = conv1d_to_conv2d(plain)
    # every architecture has 1-D convolutions to lift (melcnn's STFT and sincrfcn's band-passes
    # take their weights from Constant nodes, promoted to initializers first)
    n_lifted = sum(len(i.dims) == 4 for i in lifted.graph.initializer)
    assert n_lifted > 0, arch
    onnx.save(lifted, str(tmp_path / "m2.onnx"))
    x = np.random.default_rng(0).standard_normal((3, 1, 22050)).astype(np.float32)
    a, b = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(["probs"], {"audio": x})[0]
        for p in (path, tmp_path / "m2.onnx")
    )
    assert a.shape == b.shape == (3, 11)
    assert np.abs(a - b).max() <= 1e-5
