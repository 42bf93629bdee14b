#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only Rust and Python: set-up, then the Rust tests
# (which use the real ONNX Runtime) and the Python training/corpus tests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh

echo "== cargo build --release (binary used by the Python end-to-end tests)"
cargo build --release --locked
echo "== cargo test --release"
cargo test --release --locked
echo "== pytest"
.venv/bin/python -m pytest training/tests -q
