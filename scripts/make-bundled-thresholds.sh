#!/usr/bin/env bash
# Certifies thresholds for every bundled model, so the app and the CLI start
# calibrated: for each confidence measure, one calibration run on the model's
# bundled calibration set (textual consistency, ROUGE-L on words, epsilon 0.05,
# Learn then Test with Hoeffding-Bentkus, the other settings at calm's
# defaults) that certifies delta 0.1 and 0.25 at once (both fixed before the
# run, so both files are certified). Writes
# resources/models/<model>/thresholds/<measure>[-<variant>]-d<delta>.json, with the model
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

# The decoding variants certified per model: calm's defaults for every model;
# for prose, which loops under greedy decoding, also with repeated 3-grams
# banned (files *-nr3-d*.json), so a demo that turns the ban on starts from a
# certified lambda too. Each line: a file-name tag, then calm's options.
variants() {
  echo "-"
  [ "$1" = prose ] && echo "nr3 --no-repeat-ngram 3"
  return 0
}

for model in "${MODELS[@]}"; do
  out=resources/models/$model/thresholds
  mkdir -p "$out"
  while read -r tag options; do
    name_tag=""
    [ "$tag" = - ] || name_tag="-$tag"
    for measure in "${MEASURES[@]}"; do
      echo "== $model, $measure measure ${options:-}"
      # A fresh cache each time: losses seen before would make the files exploratory.
      # shellcheck disable=SC2086  # the options are words
      "$CALM" calibrate --model "$model" --measure "$measure" --delta 0.1 --settings textual:0.25 ${options:-} \
        --out "$SCRATCH/$measure$name_tag-d{delta}.json" --cache "$SCRATCH/$model-$measure$name_tag.cache.jsonl" \
        --threads "$(nproc)" | grep -E '^(chosen|also|wrote)'
      for file in "$SCRATCH/$measure$name_tag"-d*.json; do
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
      rm -f "$SCRATCH/$measure$name_tag"-d*.json
    done
  done < <(variants "$model")
done
ls -l resources/models/*/thresholds/
