#!/usr/bin/env bash
# kjv2web on one GPU: a smoke run of every train.py stage, then three
# configurations trained side by side (models this small leave a GPU mostly
# idle, waiting on Python, so three processes share it well). Each keeps its
# weights every minute and scores them on the first 300 calibration pairs, so
# the choice between them is made on held-out text, not on the test set.
#   bash training/gpu_trials.sh OUTDIR [MINUTES]
# OUTDIR/runs/<name>/ then holds each run (log.txt, model/, curve.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_trials.sh OUTDIR [MINUTES]}
minutes=${2:-5.5}
py=${PYTHON:-python3}
tokenizer=${TOKENIZER:-training/runs/kjv2web/tokenizer.model}
cfg=training/configs/kjv2web-gpu.json
runs=$out/runs
export PYTHONUNBUFFERED=1
mkdir -p "$runs"

# kjv2web-gpu.json is kjv2web.json for the data-bound regime: a GPU sees the
# 28k training pairs dozens of times in minutes, so it keeps dropout (the CPU
# recipe, which sees them a few times, drops it) and uses 8x larger batches.
declare -A variant=(
  [g128]=""
  [g192]="--set model.d_model=192 --set model.d_kv=48 --set model.d_ff=576 --set train.lr=1.5e-3"
  [g192e5]="--set model.d_model=192 --set model.d_kv=48 --set model.d_ff=576 --set train.lr=1.5e-3 --set model.num_layers=5"
)

mkdir -p "$runs/smoke" && cp "$tokenizer" "$runs/smoke/"
if ! $py training/train.py all --config $cfg --runs-dir "$runs" --name smoke --max-steps 10 \
     --stage2-minutes 0.1 --threads 4 > "$out/smoke.log" 2>&1; then
  tail -n 40 "$out/smoke.log"; echo "smoke run failed"; exit 1
fi
echo "smoke run passed: $(grep -c . "$out/smoke.log") log lines"

one() {
  local name=$1
  mkdir -p "$runs/$name" && cp "$tokenizer" "$runs/$name/"
  # shellcheck disable=SC2086
  $py training/train.py all --config $cfg --runs-dir "$runs" --name "$name" --minutes "$minutes" \
      --stage2-minutes 0.75 --snapshot-minutes 1 --threads 4 ${variant[$name]} \
      > "$out/$name.log" 2>&1 &&
  $py training/snapshot_curve.py "$runs/$name" --test resources/data/kjv2web/calibration.jsonl \
      --limit 300 --device "${EVAL_DEVICE:-cuda}" --batch-size 100 --markdown "$runs/$name/curve.md" >> "$out/$name.log" 2>&1
}
for name in "${!variant[@]}"; do one "$name" & done
wait || true
for name in "${!variant[@]}"; do
  echo "== $name"; grep -E "params|s/step|stage1 done|stage2 done" "$out/$name.log" || tail -n 20 "$out/$name.log"
  cat "$runs/$name/curve.md" 2>/dev/null || true
done
