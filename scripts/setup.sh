#!/usr/bin/env bash
# Idempotent set-up for a fresh machine with only Rust and Python:
#   1. Debian packages the corpus builder, the plugin and its tests need (only when root and missing),
#   2. the Python venv .venv with the training package (editable) and its dev tools,
#   3. the ONNX Runtime shared library from the PyPI wheel (version: the file onnxruntime-version), in
#      .setup/onnxruntime/, and installed for this user in the folder the CLI and the plugin search
#      (src/runtime.rs): ${XDG_DATA_HOME:-~/.local/share}/instrument-meter/onnxruntime/.
# Safe to run again: each step is skipped when already done.
# Usage: scripts/setup.sh [--no-apt] [--no-python] [--no-ort]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ORT_VERSION=$(tr -d '[:space:]' < onnxruntime-version)
# SoundFonts, FluidSynth and the MBROLA voices (contrib/non-free) for the corpus; Xvfb for the
# plugin editor tests; ALSA/JACK headers for the standalone app; valgrind for `cargo xtask stress --valgrind`.
APT_PACKAGES=(fluidsynth libfluidsynth3 fluid-soundfont-gm fluidr3mono-gm-soundfont musescore-general-soundfont
  timgm6mb-soundfont csound-soundfont mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
  festival festvox-kallpc16k festvox-us-slt-hts sox libsndfile1 xvfb xauth
  libasound2-dev libjack-jackd2-dev pkg-config valgrind)
APT_PACKAGES+=(minuet-data)  # GeneralUser GS 1.47 (corpus family "generaluser")

do_apt=1 do_python=1 do_ort=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) do_apt=0 ;;
    --no-python) do_python=0 ;;
    --no-ort) do_ort=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

# The MBROLA voices live in Debian's contrib and non-free components.
enable_contrib_nonfree() {
  local list=/etc/apt/sources.list.d/debian-contrib-nonfree.sources codename
  [[ -f $list ]] && return 0
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  cat >"$list" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

if [[ $do_apt == 1 ]]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
      log "installing Debian packages: ${missing[*]}"
      enable_contrib_nonfree
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      log "missing Debian packages (run as root or: sudo apt-get install ${missing[*]})"
    fi
  fi
fi

if [[ $do_python == 1 ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
  fi
  stamp=.venv/.training-installed
  if [[ ! -f $stamp || training/pyproject.toml -nt $stamp ]]; then
    log "installing the training package and its dependencies into .venv"
    .venv/bin/pip install -q -e "training[dev]"
    touch "$stamp"
  fi
fi

if [[ $do_ort == 1 ]]; then
  lib=.setup/onnxruntime/libonnxruntime.so.$ORT_VERSION
  if [[ ! -f $lib ]]; then
    log "fetching ONNX Runtime $ORT_VERSION from the PyPI wheel"
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      -d "$tmp" "onnxruntime==$ORT_VERSION"
    mkdir -p .setup/onnxruntime
    python3 - "$tmp" "$lib" <<'PY'
import glob, sys, zipfile, os
wheel = glob.glob(os.path.join(sys.argv[1], "onnxruntime-*.whl"))[0]
dest = sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("capi/" + os.path.basename(dest)))
    with z.open(name) as src, open(dest, "wb") as out:
        out.write(src.read())
PY
    ln -sf "libonnxruntime.so.$ORT_VERSION" .setup/onnxruntime/libonnxruntime.so
    rm -rf "$tmp"
  fi
  # The per-user location the built programs search (they carry no path of this checkout).
  user_dir=${XDG_DATA_HOME:-$HOME/.local/share}/instrument-meter/onnxruntime
  if ! cmp -s "$lib" "$user_dir/libonnxruntime.so.$ORT_VERSION"; then
    log "installing ONNX Runtime $ORT_VERSION into $user_dir"
    mkdir -p "$user_dir"
    install -m 644 "$lib" "$user_dir/libonnxruntime.so.$ORT_VERSION"
  fi
fi
log "ready"
