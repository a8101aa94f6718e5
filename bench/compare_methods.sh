#!/usr/bin/env bash
# Every calibration method on one bundled model at the same delta and epsilon
# (the paper's settings: textual 0.1 and 0.25, risk 0.02 and 0.05, epsilon
# 0.05; softmax measure, tau 4, ROUGE-L on words): the lambda each chooses on a
# random subset of the calibration set, its layers and calibration-set speedup,
# the measured speedup of that lambda on the test set (`calm bench`: full model
# and CALM interleaved), and the validation over random splits of the pooled
# sets (`calm validate`). Prints markdown.
#
#   bench/compare_methods.sh MODEL [CALIBRATION_LIMIT] [BENCH_LIMIT] [REPEATS] [VALIDATE_LIMIT] [SPLITS]
#
# Work files go to bench/out/MODEL/ (caches: a rerun only re-reads losses).
# The first method's calibration runs the model; the others re-read its cache
# and so are marked exploratory in their thresholds files by calm's rule,
# although delta and epsilon were fixed here before any loss was seen.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/compare_methods.sh MODEL [CALIBRATION_LIMIT] [BENCH_LIMIT] [REPEATS] [VALIDATE_LIMIT] [SPLITS]}
cal_limit=${2:-500}
bench_limit=${3:-50}
repeats=${4:-3}
validate_limit=${5:-500}
splits=${6:-200}
calm=${CALM:-build/app/calm}
out=bench/out/$model
mkdir -p "$out"
methods="hb hoeffding bentkus wsr crc"
run=(--model "$model" --measure softmax --tau 4 --max-new-tokens 64)

for method in $methods; do
  extra=()
  [ "$method" != crc ] && extra=(--epsilon 0.05)
  "$calm" calibrate "${run[@]}" --limit "$cal_limit" --threads 2 --cache "$out/softmax.cache.jsonl" \
      --consistency textual --delta 0.1 --settings paper --method "$method" "${extra[@]}" \
      --out "$out/compare-$method.json" --report "$out/compare-$method-report.json" > "$out/compare-$method.txt" 2>&1
done

# One bench per distinct chosen lambda, on the test set.
lambdas=$(/usr/bin/python3 - "$out" $methods <<'PY'
import json, sys
out, methods = sys.argv[1], sys.argv[2:]
seen = set()
for m in methods:
    for c in json.load(open(f"{out}/compare-{m}-report.json"))["choices"]:
        seen.add(round(c["lambda"], 6))
print(" ".join(str(x) for x in sorted(seen)))
PY
)
for lambda in $lambdas; do
  "$calm" bench "${run[@]}" --lambda "$lambda" --limit "$bench_limit" --repeats "$repeats" --threads 1 --json \
      2>/dev/null > "$out/compare-bench-$lambda.json"
done

echo "Calibrated on $cal_limit examples of the calibration set drawn at random (seed 0); speedup on the test set:"
echo "$bench_limit examples x $repeats repeats, full model and CALM interleaved, 1 thread."
echo
echo "| consistency | delta | method | chosen lambda | calibration mean loss | layers (calibration) | speedup (calibration) | test layers | test speedup (measured) | test speedup (FLOPs) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
/usr/bin/python3 - "$out" $methods <<'PY'
import json, sys
out, methods = sys.argv[1], sys.argv[2:]
reports = {m: json.load(open(f"{out}/compare-{m}-report.json")) for m in methods}
n = len(reports[methods[0]]["choices"])
for k in range(n):
    for m in methods:
        c = reports[m]["choices"][k]
        b = json.load(open(f"{out}/compare-bench-{round(c['lambda'], 6)}.json"))
        name = m + ("" if c["any_passed"] else " (none passed)")
        print(f"| {c['consistency']} | {c['delta']:g} | {name} | {c['lambda']:.2f} | {c['mean_loss']:.4f} "
              f"| {c['average_layers']:.2f} | {c['measured_speedup']:.2f}x | {b['average_layers']:.2f} "
              f"| {b['measured_speedup']:.2f}x | {b['ideal_speedup']:.2f}x |")
PY
echo
"$calm" validate "${run[@]}" --settings paper --limit "$validate_limit" --threads 2 --splits "$splits" \
    --methods hb,hoeffding,bentkus,wsr,crc,empirical-mean --cache "$out/validate.cache.jsonl" 2>/dev/null
