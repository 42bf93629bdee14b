#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only Rust and Python: set-up, then the Rust tests
# (real ONNX Runtime; the plugin in a headless CLAP host with the allocation guard and, under Xvfb,
# its editor; the bundled .clap and .vst3 in real hosts) and the Python training/corpus tests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "cargo build --release (the CLI the Python end-to-end tests run)"
cargo build --release --locked
step "cargo test --release (core, CLI, model contract, plugin in-process)"
cargo test --release --locked
step "10 hours of audio piped into the CLI: streamed, bounded memory"
cargo test --release --locked --test long_input -- --ignored --nocapture
# One extra feature set for both: the allocation guard aborts on any allocation in process().
step "plugin under the allocation guard, editor under Xvfb, fault matrix subset and load (clack-host)"
xvfb-run -a cargo test --release --locked --features assert_process_allocs,standalone,test-hooks \
  --test plugin_clap_host --test plugin_stress --test plugin_cli_parity -- --test-threads=1
step "standalone app with the dummy backend"
cargo test --release --locked --features assert_process_allocs,standalone --test plugin_standalone
step "bundles: CLAP and VST3 with the ONNX Runtime library inside"
cargo xtask bundle instrument-meter --release
step "the bundled .clap in the CLAP host"
INSTRUMENT_METER_CLAP="$root/target/bundled/Instrument Meter.clap" \
  cargo test --release --locked --features test-hooks --test plugin_clap_host --test plugin_stress -- --test-threads=1
step "the bundled .vst3 in pedalboard (JUCE's VST3 host)"
.venv/bin/python tests/vst3_pedalboard.py
step "pytest"
.venv/bin/python -m pytest training/tests -q
