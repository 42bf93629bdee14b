"""ONNX Runtime, the product's inference runtime, seen from Python: a session on a model exported in
memory exactly as ``export`` ships it (1-D convolutions rewritten as 2-D ones), per-window latency,
PyTorch/ONNX Runtime parity, and a fold model scored through ONNX Runtime."""

from __future__ import annotations

import io
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .conv2d import conv1d_to_conv2d
from .models import WithSigmoid


def cpu_session(model: onnx.ModelProto | str, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads on a model (proto or path)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def to_onnx(
    net: torch.nn.Module, example: torch.Tensor, output: str = "probs", opset: int = 17
) -> onnx.ModelProto:
    """``net`` traced on ``example`` (input ``audio``, dynamic batch) and lifted to 2-D convolutions."""
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter (GRU shape checks, constant folding)
        torch.onnx.export(
            net.cpu().eval(), (example,), buf, input_names=["audio"], output_names=[output],
            dynamic_axes={"audio": {0: "batch"}, output: {0: "batch"}}, opset_version=opset, dynamo=False,
        )  # fmt: skip
    return conv1d_to_conv2d(onnx.load_from_string(buf.getvalue()))  # faster ORT kernels, same results


def ort_session(net: torch.nn.Module, samples: int, output: str = "probs", threads: int = 1):
    """``net`` exported in memory as ``export`` ships it and opened in a CPU session."""
    return cpu_session(to_onnx(net, torch.zeros(1, 1, samples), output), threads)


def ort_latency(model: torch.nn.Module, samples: int = 22050, runs: int = 200, threads: int = 1) -> dict:
    """p50/p99 milliseconds per 1-window inference in onnxruntime (``threads`` intra-op threads)."""
    sess = ort_session(WithSigmoid([model]), samples, "probs", threads)
    x = np.random.default_rng(0).standard_normal((1, 1, samples)).astype(np.float32)
    for _ in range(10):
        sess.run(["probs"], {"audio": x})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(["probs"], {"audio": x})
        t.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99))}


def parity(net: torch.nn.Module, onnx_path, x: np.ndarray) -> float:
    """Max abs difference between PyTorch and onnxruntime probabilities, over the whole batch and
    each of the first windows alone (batch 1)."""
    sess = cpu_session(str(onnx_path), 1)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = sess.run(["probs"], {"audio": x})[0]
    if got.shape != ref.shape:
        return float("inf")
    diff = float(np.max(np.abs(got - ref)))
    for i in range(min(len(x), 4)):
        one = sess.run(["probs"], {"audio": x[i : i + 1]})[0]
        diff = max(diff, float(np.max(np.abs(one - ref[i : i + 1]))))
    return diff


class OnnxRuntimeModel(torch.nn.Module):
    """A fold model run by ONNX Runtime on the CPU, in the form ``export`` ships: the product's
    runtime, and ~3x faster than PyTorch's CPU convolutions for these models. Returns logits."""

    def __init__(self, model: torch.nn.Module, window: int, threads: int = 1):
        super().__init__()
        self.session = ort_session(model, window, "logits", threads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"audio": x.cpu().numpy()})[0])
