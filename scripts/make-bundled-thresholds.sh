#!/usr/bin/env bash
# Certifies thresholds for every bundled model, so the app and the CLI start
# calibrated: for each confidence measure, one calibration run on the model's
# bundled calibration set (textual consistency, ROUGE-L on words, epsilon 0.05,
# Learn then Test with Hoeffding-Bentkus, the other settings at calm's
# defaults) that certifies delta 0.1 and 0.25 at once (both fixed before the
# run, so both files are certified). Writes
# resources/models/<model>/thresholds/<measure>-d<delta>.json, with the model
# and data recorded by bundled name rather than this machine's paths.
# Rerun after retraining a model; tests/bundled_thresholds_check.sh checks the
# files against the models and a fresh calibration.
#   usage: scripts/make-bundled-thresholds.sh [CALM_BINARY] [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
CALM=${1:-build/app/calm}
shift || true
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(kjv2web prose)
MEASURES=(softmax softmax-max state classifier)
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

for model in "${MODELS[@]}"; do
  out=resources/models/$model/thresholds
  mkdir -p "$out"
  for measure in "${MEASURES[@]}"; do
    echo "== $model, $measure measure"
    # A fresh cache each time: losses seen before would make the files exploratory.
    "$CALM" calibrate --model "$model" --measure "$measure" --delta 0.1 --settings textual:0.25 \
      --out "$SCRATCH/$measure-d{delta}.json" --cache "$SCRATCH/$model-$measure.cache.jsonl" \
      --threads "$(nproc)" | grep -E '^(chosen|also|wrote)'
    for file in "$SCRATCH/$measure"-d*.json; do
      /usr/bin/env python3 - "$file" "$out/$(basename "$file")" "$model" <<'PY'
import json, sys
source, target, model = sys.argv[1:]
t = json.load(open(source))
t["model"]["dir"] = model  # a bundled name: calm resolves it on any machine
t["calibration"]["path"] = f"{model}/calibration.jsonl"  # under the bundled data directory
with open(target, "w") as f:
    json.dump(t, f, indent=2, ensure_ascii=False)
    f.write("\n")
PY
    done
    rm -f "$SCRATCH/$measure"-d*.json
  done
done
ls -l resources/models/*/thresholds/
