#!/usr/bin/env python3
"""The same file analysis written the usual Python way, for `cargo bench --bench pipeline`:
soundfile decode, downmix, resample (soxr if installed, else scipy's polyphase), then one
onnxruntime call per window (1 intra-op thread). Prints JSON: {"seconds": median wall time,
"cpu_seconds": median CPU time of the calling thread, "windows": n, "method": ...}.
Model loading and imports are not timed (the Rust number excludes model loading too)."""

import argparse
import json
import math
import time

import numpy as np
import onnxruntime as ort
import soundfile as sf

try:
    import soxr

    def resample(x, sr_in, sr_out):
        return soxr.resample(x, sr_in, sr_out)

    METHOD = "soundfile + soxr + onnxruntime per window"
except ImportError:  # pragma: no cover
    from scipy.signal import resample_poly

    def resample(x, sr_in, sr_out):
        g = math.gcd(sr_in, sr_out)
        return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)

    METHOD = "soundfile + scipy resample_poly + onnxruntime per window"


def analyse(path, sess, sr, win, norm, hop_s, floor):
    x, file_sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if file_sr != sr:
        x = resample(x, file_sr, sr).astype(np.float32)
    hop = max(1.0, hop_s * sr)
    probs = []
    k = 0
    while int(np.floor(k * hop + 0.5)) + win <= len(x):
        s = int(np.floor(k * hop + 0.5))
        k += 1
        w = x[s : s + win]
        rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
        if rms < floor:
            continue
        if norm == "rms":
            w = w / max(rms, 1e-8)
        probs.append(sess.run(["probs"], {"audio": w.astype(np.float32)[None, None, :]})[0][0])
    return probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--hop", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    sr, win, norm = int(meta["sample_rate"]), int(meta["window_samples"]), meta["normalization"]
    times, cpu, n = [], [], 0
    for _ in range(max(1, a.runs)):
        t, c = time.perf_counter(), time.thread_time()
        n = len(analyse(a.audio, sess, sr, win, norm, a.hop, 1e-3))
        times.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    print(
        json.dumps(
            {
                "seconds": sorted(times)[len(times) // 2],
                "cpu_seconds": sorted(cpu)[len(cpu) // 2],
                "windows": n,
                "method": METHOD,
            }
        )
    )


if __name__ == "__main__":
    main()
