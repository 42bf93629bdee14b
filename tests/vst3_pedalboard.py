#!/usr/bin/env python3
"""The VST3 bundle in a real host: Spotify's pedalboard (JUCE's VST3 hosting).

    .venv/bin/python tests/vst3_pedalboard.py ["target/bundled/Instrument Meter.vst3"]

Loads the bundle, checks its parameters, processes the plugin test's music file (stereo, at 44.1
and 48 kHz, in several block sizes) and asserts the output is bit-exact with the input. The model:
INSTRUMENT_METER_MODEL if set, else assets/model.onnx, else the random-weight test fixture (the
plugin also runs with no model at all: audio passes through either way).
Exit status 0 on success; prints one line per check.
"""

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    bundle = (
        sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bundled", "Instrument Meter.vst3")
    )
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
    del plugin
    print("OK")


if __name__ == "__main__":
    main()
