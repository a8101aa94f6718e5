#!/usr/bin/env bash
# calm refuses, before running anything, outputs that would destroy a file
# (an input of the same run, another output, a symbolic link, a special file:
# a FIFO here, never a real device node), paths JSON cannot record, and
# numeric options past their bounds. Everything lives in a temporary
# directory. Usage: cli_hardening.sh CALM MODEL_DIR DATA.jsonl [CALM_STUDIO]
# (MODEL_DIR's directory must also hold the fixture llama-tied)
set -u
calm=$1 model=$2 data_src=$3 studio=${4:-}
other=$(dirname "$model")/llama-tied  # another fixture model, for bench --thresholds
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
cp "$data_src" "$dir/data.jsonl"
cp -r "$model" "$dir/model"  # a copy: the check that protects it is under test
model=$dir/model
before=$(cksum < "$dir/data.jsonl")

# expect_refusal PATTERN ARGS...: calm exits 1 (calm-studio 5, with
# PROGRAM=studio) with PATTERN in its message.
expect_refusal() {
  local pattern=$1
  shift
  local out code program=$calm expected=1
  [[ ${PROGRAM:-} == studio ]] && program=$studio expected=5
  out=$(QT_QPA_PLATFORM=offscreen "$program" "$@" 2>&1)
  code=$?
  if [[ $code -ne $expected || $out != *"$pattern"* ]]; then
    echo "FAIL: $program $* -> exit $code, expected $expected with '$pattern':"
    echo "$out"
    failures=$((failures + 1))
  fi
}

cal=(calibrate --model "$model" --delta 0.2 --max-new-tokens 4 --limit 2)
expect_refusal "--out $dir/data.jsonl is the same file as the input --data" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/data.jsonl"
expect_refusal "--report $dir/data.jsonl is the same file as the input --data" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/t.json" --report "$dir/data.jsonl"
expect_refusal "--report $dir/t.json is the same file as --out" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/t.json" --report "$dir/t.json"
expect_refusal "--cache $dir/t.json is the same file as --out" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/t.json" --cache "$dir/t.json"
expect_refusal "--cache $dir/data.jsonl is the same file as the input --data" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/t.json" --cache "$dir/data.jsonl"
expect_refusal "the model's config.json" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$model/config.json"
ln -s "$dir/data.jsonl" "$dir/link.json"
expect_refusal "--out $dir/link.json: is a symbolic link" \
  "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/link.json"
mkfifo "$dir/fifo"
expect_refusal "--out $dir/fifo: is a FIFO" "${cal[@]}" --data "$dir/data.jsonl" --out "$dir/fifo"
expect_refusal "--cache $dir/data.jsonl is the same file as the input the data set" \
  validate --model "$model" --data "$dir/data.jsonl" --delta 0.2 --cache "$dir/data.jsonl"
# A path that is not UTF-8 cannot be recorded in the JSON files: refused before
# the run, not after it. A prompt that is not UTF-8 still gives JSON output.
bad=$dir/$'bad\xff.jsonl'
cp "$dir/data.jsonl" "$bad"
expect_refusal "not valid UTF-8" "${cal[@]}" --data "$bad" --out "$dir/t.json"
if ! "$calm" generate --model "$model" --prompt $'light \xff\xfe' --max-new-tokens 3 --json > "$dir/g.json" 2>&1; then
  echo "FAIL: generate --json with a non-UTF-8 prompt:"
  cat "$dir/g.json"
  failures=$((failures + 1))
fi
rm -f "$dir/g.json"

# Every numeric option is bounded before anything is loaded (exit 2, the option named).
usage() {
  local pattern=$1 out code
  shift
  out=$("$calm" "$@" 2>&1)
  code=$?
  if [[ $code -ne 2 || $out != *"$pattern"* ]]; then
    echo "FAIL: calm $* -> exit $code, expected 2 with '$pattern':"
    echo "$out" | head -3
    failures=$((failures + 1))
  fi
}
usage "--max-new-tokens must be from 1 to 8192, got 1000000000" generate --prompt x --max-new-tokens 1000000000
usage "--verify must be from 0 to 64, got 1000000" generate --prompt x --verify 1000000
usage "--tau needs a number, got 'nan'" generate --prompt x --tau nan
usage "--lambda must be from 0 to 1, got 2" generate --prompt x --lambda 2
usage "--grid-step must be from 0.001 to 1, got 1e-5" calibrate --delta 0.1 --out "$dir/t.json" --grid-step 1e-5
usage "--threads must be from 0 to 256, got 1000" calibrate --delta 0.1 --out "$dir/t.json" --threads 1000
usage "--splits must be from 1 to 100000, got 100000000" validate --delta 0.1 --splits 100000000
usage "--repeats must be from 1 to 1000" bench --repeats 5000
usage "--threads must be from 1 to 256" bench --threads 0

# bench with another model's thresholds warns (eval refuses).
"$calm" calibrate --model "$model" --data "$dir/data.jsonl" --delta 0.2 --max-new-tokens 2 --limit 2 \
  --grid-step 0.5 --out "$dir/t.json" > /dev/null 2>&1
out=$("$calm" bench --model "$other" --data "$dir/data.jsonl" --thresholds "$dir/t.json" --limit 1 --repeats 1 \
  --json 2>&1 >/dev/null)
if [[ $out != *"warning: $dir/t.json was calibrated for model 'model'"* ]]; then
  echo "FAIL: bench with another model's thresholds gave no warning: $out"
  failures=$((failures + 1))
fi
rm -f "$dir/t.json" "$dir/t.cache.jsonl"

if [[ -n $studio ]]; then
  PROGRAM=studio expect_refusal "--screenshot $dir/fifo: is a FIFO" --screenshot "$dir/fifo" --model "$model" --prompt x
  PROGRAM=studio expect_refusal "--screenshot $dir/data.jsonl is the same file as the input --calibrate" \
    --screenshot "$dir/data.jsonl" --model "$model" --prompt x --calibrate "$dir/data.jsonl"
  PROGRAM=studio expect_refusal "the model's model.safetensors" \
    --screenshot "$model/model.safetensors" --model "$model" --prompt x
fi
cmp -s "$model/model.safetensors" "$2/model.safetensors" || fail "the weights changed"
cmp -s "$model/config.json" "$2/config.json" || fail "config.json changed"
[[ $(cksum < "$dir/data.jsonl") == "$before" ]] || fail "the data set changed"
[[ -L $dir/link.json && -p $dir/fifo ]] || fail "the link or the FIFO was replaced"
[[ ! -e $dir/t.json ]] || fail "an output was written"
finish
