#!/usr/bin/env bash
# The GPU leg of the architecture study (docs/results.md): every architecture x seed trained at once
# on one CUDA device, from a corpus moved there as Vorbis packs (training/tools/audio_pack.py),
# batches drawn on the GPU (--batch-augment auto), an equal per-run time budget.
#
#   gpu_study.sh prep PACK...    unpack, show the machine, smoke-train 3 architectures for 2 epochs
#   gpu_study.sh study PACK...   unpack, train the plan, pack the run folders (no last.pt) into $OUT
#
# Environment: STUDY_ARCHS (default: all eight), STUDY_SEEDS (3), STUDY_BUDGET_MIN (per run, 6),
# STUDY_DEADLINE_S (hard stop for the whole study, 480), STUDY_EPOCHS (60), STUDY_DEVICE (cuda),
# STUDY_EXTRA (more train arguments), CORPUS (/tmp/corpus), RUNS (/tmp/runs), OUT (/tmp/study-out), PY (python3).
# Afterwards, on the machine with the clean corpus: `instrument-meter-train revalidate RUN --data
# CORPUS` (thresholds from clean validation audio), then `evaluate`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
CORPUS=${CORPUS:-/tmp/corpus}
RUNS=${RUNS:-/tmp/runs}
OUT=${OUT:-/tmp/study-out}
ARCHS=${STUDY_ARCHS:-bigru128 bigru256 bigru2 dcnn fcn rfcn rcnn melcnn}
SEEDS=${STUDY_SEEDS:-3}
BUDGET=${STUDY_BUDGET_MIN:-6}
DEADLINE=${STUDY_DEADLINE_S:-480}
EPOCHS=${STUDY_EPOCHS:-60}
DEVICE=${STUDY_DEVICE:-cuda}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
export PYTHONPATH="$PWD/training:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
if ! $PY -c 'import soundfile' 2>/dev/null && [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
stage=$1
shift
t0=$SECONDS
if [ $# -gt 0 ]; then $PY training/tools/audio_pack.py unpack "$@" --out "$CORPUS"; fi
mkdir -p "$RUNS" "$OUT"
last_epoch() { tr '\r' '\n' <"$1" | grep -h '^\[fold .*\] epoch' | tail -n 1 || true; }
train() { # arch, extra args...
  local a=$1
  shift
  $PY -m instrument_meter_training.cli train --data "$CORPUS" --arch "$a" --batch-size 64 --lr 1e-3 \
    --device "$DEVICE" --threads 1 --cache-dir '' "$@"
}

if [ "$stage" = prep ]; then
  $PY -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no cuda")'
  echo "cpus $(nproc), memory $(free -g | awk '/Mem/ {print $2}') GiB"
  for a in rcnn bigru128 melcnn; do
    train "$a" --val-mode cv --folds 5 --fold-index 0 --epochs 2 --max-excerpts 400 \
      --out "$RUNS/smoke-$a" >"$RUNS/smoke-$a.log" 2>&1 &
  done
  wait
  for a in rcnn bigru128 melcnn; do echo "$a: $(last_epoch "$RUNS/smoke-$a.log")"; done
  echo "prep done in $((SECONDS - t0)) s"
  exit 0
fi

desc="SoundFont corpus-v1 (instrument-meter-train corpus --scale irmas --seed 0): 6,600 single-label"
desc+=" 3-s train excerpts (11 classes x 600), trained from a Vorbis ~34 kbit/s transport copy"
for a in $ARCHS; do
  for k in $(seq 0 $((SEEDS - 1))); do
    train "$a" --val-mode dir --folds "$SEEDS" --fold-index "$k" --epochs "$EPOCHS" --patience 8 \
      --crops-per-excerpt 3 --eq-prob 0.3 --seed 0 --time-budget-min "$BUDGET" \
      --training-data "$desc" ${STUDY_EXTRA:-} --out "$RUNS/$a" >"$RUNS/$a-$k.log" 2>&1 &
  done
done
last=0
while pgrep -f "instrument_meter_training.cli train" >/dev/null; do
  if ((SECONDS - t0 > DEADLINE)); then
    echo "deadline: stopping the runs still going"
    pkill -f "instrument_meter_training.cli train" || true
    break
  fi
  if ((SECONDS - last >= 60)); then
    last=$SECONDS
    echo "--- $((SECONDS - t0)) s: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null)"
    for f in "$RUNS"/*-[0-9].log; do echo "$(basename "$f" .log): $(last_epoch "$f")"; done
  fi
  sleep 5
done
wait || true
for f in "$RUNS"/*-[0-9].log; do
  grep -q '^fold ' "$f" || { echo "== $f did not finish:"; tr '\r' '\n' <"$f" | tail -n 4; }
done
$PY - "$RUNS" "$OUT" <<'EOF'
import sys, tarfile
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
files = [p for p in sorted(runs.rglob("*")) if p.is_file() and p.name != "last.pt" and "smoke" not in str(p)]
part, size, tar = 0, 0, None
for p in files:
    if tar is None or size + p.stat().st_size > 15_000_000:
        if tar:
            tar.close()
        part, size = part + 1, 0
        tar = tarfile.open(out / f"runs-{part}.tar", "w")
    tar.add(p, arcname=str(p.relative_to(runs)))
    size += p.stat().st_size
if tar:
    tar.close()
print(f"packed {len(files)} files into {part} tar(s)")
EOF
echo "study done in $((SECONDS - t0)) s"
