#!/usr/bin/env bash
# The speed table of docs/performance.md for one bundled model: calibrates each
# measure on the model's calibration set (textual consistency, ROUGE-L,
# epsilon 0.05, delta 0.1 and 0.25), then runs `calm bench` on the test set
# at each calibrated lambda, at the local oracle, in verify mode and with the
# catch-up cache, and prints one markdown row per setting.
#
#   bench/run_table.sh MODEL [CALIBRATION_LIMIT] [BENCH_LIMIT] [REPEATS] [THREADS]
#
# Work files go to bench/out/MODEL/ (calibration caches make a rerun fast).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/run_table.sh MODEL [CALIBRATION_LIMIT] [BENCH_LIMIT] [REPEATS] [THREADS]}
cal_limit=${2:-500}
bench_limit=${3:-50}
repeats=${4:-3}
threads=${5:-1}
calm=${CALM:-build/app/calm}
out=bench/out/$model
mkdir -p "$out"

row() {  # label, then calm bench arguments
  local label=$1
  shift
  "$calm" bench --model "$model" --limit "$bench_limit" --repeats "$repeats" --threads "$threads" --json "$@" \
      2>/dev/null > "$out/bench.json"
  /usr/bin/python3 - "$label" "$out/bench.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
b = json.load(open(path))
p = b["calm_profile_seconds"]
total = sum(p.values()) or 1.0
share = lambda *keys: 100.0 * sum(p[k] for k in keys) / total
print(f"| {label} | {b['average_layers']:.2f} | {b['full_tokens_per_second']:.0f} | {b['calm_tokens_per_second']:.0f} "
      f"| {b['measured_speedup']:.2f}x | {b['ideal_speedup']:.2f}x | {b['measured_over_ideal']:.2f} "
      f"| {share('layers'):.0f} / {share('vocabulary'):.0f} / {share('confidence'):.0f} / {share('propagation'):.0f} "
      f"/ {share('verification'):.0f} / {share('prompt', 'sampling', 'tokenizer', 'analysis'):.0f} "
      f"| {100 * b['loop_gflops'] / b['kernel_gflops']:.0f}% | {b['peak_memory_mb']:.0f} |")
PY
}

calibrate() {  # measure, delta, extra calibrate arguments -> thresholds path
  local measure=$1 delta=$2 tag=$3
  shift 3
  local file=$out/$tag-$delta.json
  if [ ! -f "$file" ]; then
    "$calm" calibrate --model "$model" --measure "$measure" --delta "$delta" --epsilon 0.05 \
        --limit "$cal_limit" --threads 2 --cache "$out/$tag.cache.jsonl" --out "$file" "$@" >&2
  fi
  echo "$file"
}

has_classifier=$("$calm" info --model "$model" | grep -c "classifier: *yes" || true)
echo "| setting | layers | full tok/s | CALM tok/s | measured | ideal | measured/ideal | time: layers / vocab / confidence / propagation / verify / other (%) | loop vs kernels | peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
measures="softmax state"
[ "$has_classifier" -gt 0 ] && measures="$measures classifier"
for measure in $measures; do
  for delta in 0.1 0.25; do
    t=$(calibrate "$measure" "$delta" "$measure")
    lambda=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['lambda'], 3))" "$t")
    row "$measure, delta $delta (lambda $lambda)" --thresholds "$t"
  done
done
t=$(calibrate softmax 0.25 softmax-gated --gate state --gate-threshold 0.98)
lambda=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['lambda'], 3))" "$t")
row "softmax gated by state >= 0.98, delta 0.25 (lambda $lambda)" --thresholds "$t"
if [ "$has_classifier" -gt 0 ]; then
  t=$(calibrate softmax 0.25 softmax-classifier-gated --gate classifier --gate-threshold 0.6)
  lambda=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['lambda'], 3))" "$t")
  row "softmax gated by classifier >= 0.6, delta 0.25 (lambda $lambda)" --thresholds "$t"
fi
row "local oracle (its exits replayed)" --oracle
for measure in $measures; do  # verify mode is lossless: any lambda is safe; drafts at delta 0.25's
  t=$(calibrate "$measure" 0.25 "$measure")
  lambda=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['lambda'])" "$t")
  row "verify mode (lossless), drafts of 4 by $measure at lambda $lambda" --measure "$measure" --lambda "$lambda" --verify 4
done
t=$(calibrate softmax 0.25 softmax)
lambda=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['lambda'])" "$t")
row "catch-up cache, softmax lambda $lambda" --lambda "$lambda" --kv catch-up

# Quality of the catch-up cache against propagation at the same lambda, on the test set.
catchup=$out/softmax-0.25-catch-up.json
/usr/bin/python3 - "$t" "$catchup" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["kv_mode"] = "catch-up"
json.dump(t, open(sys.argv[2], "w"), indent=2)
PY
echo
echo "| K/V of skipped layers (softmax, lambda $lambda, $((bench_limit * 4)) test examples) | loss vs full (1 - ROUGE-L) | ROUGE-L vs references | layers | FLOPs speedup |"
echo "|---|---|---|---|---|"
for file in "$t" "$catchup"; do
  "$calm" eval --model "$model" --thresholds "$file" --limit $((bench_limit * 4)) --json 2>/dev/null > "$out/eval.json"
  /usr/bin/python3 - "$out/eval.json" "$file" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
kv = json.load(open(sys.argv[2]))["kv_mode"]
refs = e.get("vs_references") or {}
ref = f"{refs['calm']:.3f} (full {refs['full']:.3f})" if refs else "-"
print(f"| {kv} | {e['vs_full']['mean_loss']:.3f} | {ref} | {e['average_layers']:.2f} | {e['flops_speedup']:.2f}x |")
PY
done
