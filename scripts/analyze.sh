#!/usr/bin/env bash
# The main job: analyse audio files with the embedded default model (default: the bundled example).
# Does its own set-up (the ONNX Runtime library) and build on first use.
set -euo pipefail
shopt -s nullglob
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scripts_dir="$root/scripts"
"$scripts_dir/setup.sh" --no-apt --no-python --no-npm
if (($# == 0)); then
  set -- "$root"/assets/examples/*.{wav,ogg,flac,mp3}
fi
exec cargo run --manifest-path "$root/Cargo.toml" --release --quiet --bin instrument-meter -- analyze "$@"
