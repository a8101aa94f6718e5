#!/usr/bin/env bash
# calm calibrate --method: conformal risk control writes a thresholds file that
# names the method, has no epsilon, states its guarantee and the monotonicity
# check; eval reads it back; contradictory options are refused. Everything
# lives in a temporary directory. Usage: cli_calibrate_methods.sh CALM MODEL_DIR DATA.jsonl
set -u
calm=$1 model=$2 data=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

cal=(calibrate --model "$model" --data "$data" --limit 6 --max-new-tokens 6 --grid-step 0.25 --delta 0.5)
if ! "$calm" "${cal[@]}" --method crc --out "$dir/crc.json" --report "$dir/crc-report.json" > "$dir/crc.txt" 2>&1; then
  fail "calibrate --method crc failed:"
  cat "$dir/crc.txt"
fi
expect '"method": "crc"' "$dir/crc.json"
expect '"monotonicity": {' "$dir/crc.json"
expect '"guarantee": "Averaged over the draw of the calibration set and a new input' "$dir/crc.json"
refuse '"epsilon"' "$dir/crc.json"
refuse '"pvalue_method"' "$dir/crc.json"
expect 'CRC bound' "$dir/crc.txt"
expect 'monotone: ' "$dir/crc.txt"
expect '(crc)' "$dir/crc.txt"
expect '"crc_bound"' "$dir/crc-report.json"
refuse '"p_value"' "$dir/crc-report.json"
# The file's monotonicity verdict and the printed one agree.
if grep -qF '"holds": true' "$dir/crc.json"; then
  expect 'monotone: yes' "$dir/crc.txt"
else
  expect 'monotone: NO' "$dir/crc.txt"
  expect 'did NOT on the calibration set' "$dir/crc.json"
fi
if ! "$calm" eval --model "$model" --data "$data" --limit 3 --thresholds "$dir/crc.json" > "$dir/eval.txt" 2>&1; then
  fail "eval of a crc thresholds file failed:"
  cat "$dir/eval.txt"
fi
expect 'vs full:' "$dir/eval.txt"

# Learn then Test through --method: the same file layout as --pvalue.
"$calm" "${cal[@]}" --method wsr --out "$dir/wsr.json" > "$dir/wsr.txt" 2>&1 || fail "calibrate --method wsr failed"
expect '"method": "wsr"' "$dir/wsr.json"
expect '"pvalue_method": "wsr"' "$dir/wsr.json"
expect '"epsilon": 0.05' "$dir/wsr.json"
expect 'p-value' "$dir/wsr.txt"

# Refusals (exit 2, before any run).
check_usage() {
  local pattern=$1 out code
  shift
  out=$("$calm" "${cal[@]}" --out "$dir/x.json" "$@" 2>&1)
  code=$?
  [[ $code -eq 2 && $out == *"$pattern"* ]] || fail "$* -> exit $code, expected 2 with '$pattern': $out"
}
check_usage "--epsilon has no part in --method crc" --method crc --epsilon 0.1
check_usage "disagree" --method crc --pvalue hb
check_usage "unknown calibration method 'bonferroni'" --method bonferroni
[[ -e $dir/x.json ]] && fail "a refused run wrote its --out"

# "{delta}" in --out: one certified file per guarantee from one run, the
# shared cache named without the field; a second run from that cache is exploratory.
if ! "$calm" "${cal[@]}" --settings textual:0.75 --out "$dir/each-d{delta}.json" > "$dir/each.txt" 2>&1; then
  fail "calibrate --out with {delta} failed:"
  cat "$dir/each.txt"
fi
for d in 0.5 0.75; do
  [ -f "$dir/each-d$d.json" ] || fail "no $dir/each-d$d.json"
  expect "\"delta\": $d" "$dir/each-d$d.json"
  expect '"certification": "certified"' "$dir/each-d$d.json"
  expect "wrote $dir/each-d$d.json" "$dir/each.txt"
done
[ -f "$dir/each-d.cache.jsonl" ] || fail "the shared cache is not $dir/each-d.cache.jsonl"
"$calm" "${cal[@]}" --settings textual:0.75 --out "$dir/each-d{delta}.json" > "$dir/again.txt" 2>&1
expect '"certification": "exploratory"' "$dir/each-d0.75.json"

finish
