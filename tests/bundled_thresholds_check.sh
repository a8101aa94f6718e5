#!/usr/bin/env bash
# The bundled thresholds files against a fresh calibration: for one model and
# measure (argument 3, 4), `calm calibrate` on the model's bundled calibration
# set must certify the same lambdas, on the same data and weights, as the
# shipped files (scripts/make-bundled-thresholds.sh made them the same way).
# The other files are checked against the models without running them
# (test_bundled_thresholds).
# A variant's files (TAG, e.g. nr3 for *-nr3-d*.json) are made with calm's
# OPTIONS after it, as scripts/make-bundled-thresholds.sh makes them.
#   usage: bundled_thresholds_check.sh CALM RESOURCES MODEL MEASURE [TAG OPTIONS...]
set -euo pipefail
calm=$1 resources=$2 model=$3 measure=$4
shift 4
name=$measure
if [ $# -gt 0 ]; then
  name=$measure-$1
  shift
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$calm" calibrate --model "$resources/models/$model" --data "$resources/data/$model/calibration.jsonl" \
  --measure "$measure" --delta 0.1 --settings textual:0.25 "$@" --out "$work/$name-d{delta}.json" \
  --threads "$(nproc)" > "$work/log.txt"
failures=0
for delta in 0.1 0.25; do
  shipped=$resources/models/$model/thresholds/$name-d$delta.json
  fresh=$work/$name-d$delta.json
  if ! python3 - "$shipped" "$fresh" <<'PY'
import json, sys
shipped, fresh = (json.load(open(p)) for p in sys.argv[1:])
keys = [("lambda",), ("delta",), ("epsilon",), ("measure",), ("tau",), ("max_new_tokens",), ("kv_mode",),
        ("repetition_penalty",), ("no_repeat_ngram_size",),
        ("first_exit_layer",), ("check_interval",), ("certification",), ("model", "hash"),
        ("calibration", "hash"), ("calibration", "examples"), ("on_calibration_set", "mean_loss")]
bad = []
for k in keys:
    a, b = shipped, fresh
    for part in k:
        a, b = a.get(part), b.get(part)
    if a != b:
        bad.append(f"{'.'.join(k)}: shipped {a!r}, fresh {b!r}")
if bad:
    print(sys.argv[1] + " differs from a fresh calibration:\n  " + "\n  ".join(bad))
    sys.exit(1)
print(f"{sys.argv[1]}: lambda {shipped['lambda']} reproduced")
PY
  then failures=$((failures + 1)); fi
done
echo "$failures failures"
