#!/usr/bin/env python3
"""The VST3 bundle in a real host: Spotify's pedalboard (JUCE's VST3 hosting).

    .venv/bin/python tests/vst3_pedalboard.py [--stress] ["target/bundled/Instrument Meter.vst3"]

Loads the bundle, checks its parameters, processes the plugin test's music file (stereo, at 44.1
and 48 kHz, in several block sizes) and asserts the output is bit-exact with the input. Then a
fault pass (the VST3 side of tests/plugin_stress.rs): silence, full-scale noise, DC, clipped
square, NaN, +/-Inf, denormals and a 60-dB jump, mono and stereo, at 8/48/192 kHz in 17- and
4096-sample blocks; --stress runs every rate from 8 to 192 kHz and blocks 1 to 8192. Every case
must pass bit for bit (NaN payloads included) without a crash. The model:
INSTRUMENT_METER_MODEL if set, else assets/model.onnx, else the random-weight test fixture (the
plugin also runs with no model at all: audio passes through either way).
Exit status 0 on success; prints one line per check.
"""

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGNALS = ("silence", "noise", "dc", "clipped_square", "nan", "inf", "denormal", "jump_60db")


def fault_signal(kind, rate, channels, seconds, rng):
    """`seconds` of `kind` then 0.5 s of silence, shape (channels, frames), float32."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros((channels, n), dtype=np.float32)
    for c in range(channels):
        if kind == "noise":
            x = rng.uniform(-1, 1, n)
        elif kind == "dc":
            x = np.full(n, (0.9, -1.0)[c])
        elif kind == "clipped_square":
            x = np.clip(4 * np.sin(2 * np.pi * (220 + 110 * c) * t), -1, 1)
        elif kind == "jump_60db":
            x = rng.uniform(-1, 1, n) * np.where(np.arange(n) < n // 2, 0.001, 1.0)
        elif kind in ("nan", "inf"):
            x = 0.5 * np.sin(2 * np.pi * 330 * t)
        else:
            x = np.zeros(n)
        out[c] = x
    bits = out.view(np.uint32)
    if kind == "nan":
        # Quiet and signalling NaNs with payloads and a negative NaN, plus a solid NaN stretch.
        payloads = np.array([0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0xFFBFFFFF], dtype=np.uint32)
        idx = np.r_[np.arange(0, n, 7), np.arange(n // 3, n // 2)]
        bits[0, idx] = payloads[idx % len(payloads)]
    elif kind == "inf":
        idx = np.r_[np.arange(0, n, 5), np.arange(n // 3, n // 2)]
        out[:, idx] = np.where(idx % 2 == 0, np.inf, -np.inf)
    elif kind == "denormal":
        bits[:] = rng.integers(1, 0x007FFFFF, size=bits.shape, dtype=np.uint32) | (
            rng.integers(0, 2, size=bits.shape, dtype=np.uint32) << 31
        )
    return np.concatenate([out, np.zeros((channels, rate // 2), dtype=np.float32)], axis=1)


def fault_pass(plugin, stress):
    rates = (8000, 22050, 44100, 48000, 88200, 96000, 192000) if stress else (8000, 48000, 192000)
    blocks = (1, 17, 64, 512, 4096, 8192) if stress else (17, 4096)
    rng = np.random.default_rng(7)
    run = passed = 0
    start = time.monotonic()
    for rate in rates:
        for block in blocks:
            # Per-sample blocks cost a host call per frame: a shorter signal keeps them quick.
            seconds = 0.25 if block == 1 else 1.0
            for channels in (1, 2):
                for kind in SIGNALS:
                    audio = fault_signal(kind, rate, channels, seconds, rng)
                    out = plugin.process(audio, rate, buffer_size=block, reset=True)
                    run += 1
                    same = out.shape == audio.shape and np.array_equal(
                        out.view(np.uint32), audio.view(np.uint32)
                    )
                    if same:
                        passed += 1
                    else:
                        print(f"FAIL {rate} Hz, {block}-sample blocks, {channels} ch, {kind}: output differs")
    print(f"VST3 fault pass: {run} cases run, {passed} passed, in {time.monotonic() - start:.1f} s")
    assert passed == run


def main():
    args = [a for a in sys.argv[1:] if a != "--stress"]
    stress = "--stress" in sys.argv[1:]
    bundle = args[0] if args else os.path.join(ROOT, "target", "bundled", "Instrument Meter.vst3")
    if not os.path.isdir(bundle):
        sys.exit(f"no VST3 bundle at {bundle}; run `cargo xtask bundle instrument-meter --release` first")
    if "INSTRUMENT_METER_MODEL" not in os.environ:
        trained = os.path.join(ROOT, "assets", "model.onnx")
        fixture = os.path.join(ROOT, "tests", "fixtures", "models", "tiny4.onnx")
        os.environ["INSTRUMENT_METER_MODEL"] = trained if os.path.isfile(trained) else fixture

    import pedalboard
    import soundfile as sf

    plugin = pedalboard.load_plugin(bundle)
    print(f"loaded {plugin.name!r} ({bundle}) with pedalboard {pedalboard.__version__}")
    params = set(plugin.parameters.keys())
    for expected in (
        "sensitivity",
        "attack_ms",
        "release_ms",
        "analysis_hop_s",
        "analyse",
        "midi_out",
        "midi_channel",
        "first_cc",
        "note_gates",
        "hysteresis",
        "detected_cello",
    ):
        assert expected in params, f"parameter {expected} missing: {sorted(params)}"
    print(f"parameters: {sorted(params)}")

    mono, rate = sf.read(
        os.path.join(ROOT, "tests", "fixtures", "audio", "plugin_cello.flac"), dtype="float32"
    )
    stereo = np.stack([mono, -0.5 * mono]).astype(np.float32)
    for sr in (44100, 48000):
        for block in (64, 512, 4096):
            plugin.reset()
            out = plugin.process(stereo, sr, buffer_size=block, reset=True)
            assert out.shape == stereo.shape, (out.shape, stereo.shape)
            same = np.array_equal(out.view(np.uint32), stereo.view(np.uint32))
            assert same, f"{sr} Hz / {block}: output differs (max |diff| {np.max(np.abs(out - stereo))})"
            print(f"{sr} Hz, {block}-sample blocks: {stereo.shape[1]} frames bit-exact")
    # The plugin loaded ONNX Runtime from inside its own bundle (dladdr lookup), not from elsewhere.
    with open("/proc/self/maps") as f:
        libs = sorted({line.split(None, 5)[-1].strip() for line in f if "libonnxruntime" in line})
    print(f"ONNX Runtime mapped from: {libs}")
    assert libs and all(os.path.realpath(bundle) in os.path.realpath(p) for p in libs), libs
    # Parameter changes through the host while processing.
    plugin.sensitivity = 0.2
    plugin.first_cc = 40
    out = plugin.process(stereo, 48000, buffer_size=256)
    assert np.array_equal(out, stereo)
    print("parameter changes: ok")
    plugin.sensitivity = 0.0
    plugin.first_cc = 20
    fault_pass(plugin, stress)
    del plugin
    print("OK")


if __name__ == "__main__":
    main()
