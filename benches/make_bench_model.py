#!/usr/bin/env python3
"""Writes an RFCN-sized ONNX model with RANDOM weights for `cargo bench --bench pipeline` while no
trained default model exists (shape of the design doc's compute-budget probe: stride-3 front
conv, 8 residual cells of 2 x Conv1d(k=3) + LeakyReLU + MaxPool(3), 16->128 channels, 1x1 conv
head, mean over time, sigmoid; BatchNorm is folded into the convs as an export would do).
It follows docs/model-contract.md but must never be used as a default model.

    .venv/bin/python benches/make_bench_model.py target/bench_rfcn.onnx
"""

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi"]


def main(path):
    rng = np.random.default_rng(0)
    inits, nodes, macs = [], [], 0
    n = [0]

    def name(p):
        n[0] += 1
        return f"{p}{n[0]}"

    def conv(x, cin, cout, k, stride=1, pad=0, length=None):
        nonlocal macs
        w, b, y = name("w"), name("b"), name("conv")
        inits.append(
            numpy_helper.from_array(
                (rng.standard_normal((cout, cin, k)) * np.sqrt(2 / (cin * k))).astype(np.float32), w
            )
        )
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        nodes.append(
            helper.make_node("Conv", [x, w, b], [y], strides=[stride], pads=[pad, pad], kernel_shape=[k])
        )
        macs += cout * cin * k * (length // stride)
        return y

    def act(x):
        y = name("act")
        nodes.append(helper.make_node("LeakyRelu", [x], [y], alpha=0.01))
        return y

    length = 22050
    x = act(conv("audio", 1, 16, 3, stride=3, length=length))
    length //= 3
    chans = [16, 16, 32, 32, 64, 64, 128, 128]
    cin = 16
    for cout in chans:
        h = act(conv(x, cin, cout, 3, pad=1, length=length))
        h = act(conv(h, cout, cout, 3, pad=1, length=length))
        skip = x if cin == cout else conv(x, cin, cout, 1, length=length)
        s, p = name("add"), name("pool")
        nodes.append(helper.make_node("Add", [h, skip], [s]))
        nodes.append(helper.make_node("MaxPool", [s], [p], kernel_shape=[3], strides=[3]))
        x, cin, length = p, cout, length // 3
    logits = conv(x, cin, len(LABELS), 1, length=length)
    g = name("gap")
    nodes.append(helper.make_node("GlobalAveragePool", [logits], [g]))
    f = name("flat")
    nodes.append(helper.make_node("Flatten", [g], [f], axis=1))
    nodes.append(helper.make_node("Sigmoid", [f], ["probs"]))
    graph = helper.make_graph(
        nodes,
        "bench_rfcn",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 1, "samples"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(LABELS)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    params = sum(int(np.prod(i.dims)) for i in inits)
    meta = {
        "contract_version": "1",
        "labels": json.dumps(LABELS),
        "sample_rate": "22050",
        "window_samples": "22050",
        "normalization": "rms",
        "model_name": "bench-rfcn-random",
        "model_version": "0",
        "architecture": f"rfcn-like, {params} params, {macs / 1e6:.0f} M MACs, random weights",
        "training_data": "none (random weights, benchmark only)",
    }
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"{path}: {params} parameters, {macs / 1e6:.1f} M MACs per window")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench_rfcn.onnx")
