#!/usr/bin/env bash
# calm calibrate --losses: certifying losses computed elsewhere.
# 1. A run's own losses (--write-losses) imported again certify as the run did:
#    the report (JSON, CSV) and the thresholds file are equal byte for byte
#    apart from the creation time (the file carries the run's layers, times
#    and FLOPs, so even the speedups agree).
# 2. docs/examples/write_losses.py (outputs, stdlib Python) certified with the
#    exact-match metric: every lambda's mean loss equals the fraction computed
#    independently from the script's own made-up breaks.
# 3. Malformed files are refused naming the file and line (and the lambda):
#    bad JSON, a missing lambda column, losses outside [0, 1], a bad header,
#    a loss the file does not hold, a missing reference, uneven optional columns,
#    another model's hash; run options are usage errors.
# Everything lives in a temporary directory.
# Usage: cli_calibrate_losses.sh CALM SOURCE_DIR
set -u
calm=$1 src=$2
python=/usr/bin/python3
[ -x "$python" ] || python=python3
model=$src/resources/models/kjv2web
data=$src/resources/data/kjv2web/calibration.jsonl
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
without_created() { grep -v '^ *"created": ' "$1"; }

# 1. A run, its losses written, imported again.
certify=(--delta 0.25 --settings textual:0.1 --method hb)
"$calm" calibrate --model "$model" --data "$data" --limit 30 --max-new-tokens 8 --grid-step 0.1 "${certify[@]}" \
  --out "$dir/run.json" --report "$dir/run-report.json" --write-losses "$dir/run-losses.jsonl" > "$dir/run.txt" 2>&1 ||
  { fail "the run failed:"; cat "$dir/run.txt"; }
"$calm" calibrate --losses "$dir/run-losses.jsonl" "${certify[@]}" --out "$dir/imported.json" \
  --report "$dir/imported-report.json" > "$dir/imported.txt" 2>&1 || { fail "the import failed:"; cat "$dir/imported.txt"; }
for pair in "run.json imported.json" "run-report.json imported-report.json"; do
  read -r a b <<< "$pair"
  cmp -s <(without_created "$dir/$a") <(without_created "$dir/$b") ||
    { fail "$b differs from $a:"; diff <(without_created "$dir/$a") <(without_created "$dir/$b") | head -20; }
done
cmp -s "$dir/run-report.csv" "$dir/imported-report.csv" || fail "the imported report's CSV differs from the run's"
expect "chosen:  $(grep -o 'lambda [0-9.]* for' "$dir/run.txt" | head -1)" "$dir/imported.txt"
[ "$(wc -l < "$dir/run-losses.jsonl")" = 31 ] || fail "run-losses.jsonl has not a header and 30 examples"

# 2. The Python example, certified; its mean losses checked independently.
example=$src/docs/examples/write_losses.py
"$python" "$example" "$dir/example.jsonl" || fail "write_losses.py failed"
"$calm" calibrate --losses "$dir/example.jsonl" --model "$model" --metric exact --delta 0.2 \
  --out "$dir/example.json" --report "$dir/example-report.json" > "$dir/example.txt" 2>&1 ||
  { fail "certifying the example failed:"; cat "$dir/example.txt"; }
"$python" - "$example" "$dir/example-report.json" << 'PY' || fail "the example's losses differ from the expected ones"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("write_losses", sys.argv[1])
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
_, breaks = w.made_up_examples()
# Exact match: loss 1 at lambda index p when the example broke at or above it.
expected = [sum(1 for b in breaks if p >= b) / len(breaks) for p in range(len(w.LAMBDAS))]
points = json.load(open(sys.argv[2]))["choices"][0]["points"]
got = [p["mean_loss"] for p in points]
assert [p["lambda"] for p in points] == w.LAMBDAS, points
assert all(abs(a - b) < 1e-12 for a, b in zip(got, expected)), (got, expected)
assert len(set(expected)) > 2, expected  # the test could fail: losses differ along the grid
print("example mean losses as expected:", expected)
PY
expect "\"dir\": \"$model\"" "$dir/example.json"  # --model's directory, and its hash
expect '"name": "made-up"' "$dir/example.json"  # the header's name

# 3. Refusals. header LINES... writes a file; refused TEXT FILE [options]: certifying it fails and says TEXT.
H='{"calm_losses": 1, "kind": "losses", "lambdas": [1, 0.5, 0], "loss": {"consistency": "textual", "metric": "rougeL", "metric_unit": "words"}, "settings": {"measure": "softmax", "tau": 4, "max_new_tokens": 8, "first_exit_layer": 1, "check_interval": 1, "kv_mode": "propagate"}}'
O='{"calm_losses": 1, "kind": "outputs", "lambdas": [1, 0.5, 0], "settings": {"measure": "softmax", "tau": 4, "max_new_tokens": 8, "first_exit_layer": 1, "check_interval": 1, "kv_mode": "propagate"}}'
file() {
  local name=$1
  shift
  printf '%s\n' "$@" > "$dir/$name"
}
refused() {
  local text=$1 name=$2
  shift 2
  if "$calm" calibrate --losses "$dir/$name" --model "$model" --delta 0.2 --out "$dir/bad.json" "$@" \
    > "$dir/bad.txt" 2>&1; then
    fail "$name was accepted"
  else
    expect "$text" "$dir/bad.txt"
  fi
  [ -e "$dir/bad.json" ] && fail "a refused import wrote a thresholds file"
  rm -f "$dir/bad.json"
}
file ok.jsonl "$H" '{"losses": [0, 0.1, 0.5]}' '{"losses": [0, 0, 0.2]}'
"$calm" calibrate --losses "$dir/ok.jsonl" --model "$model" --delta 0.2 --out "$dir/ok.json" > "$dir/ok.txt" 2>&1 ||
  { fail "a good small file was refused:"; cat "$dir/ok.txt"; }
file json.jsonl "$H" '{"losses": [0, 0.1, 0.5]}' '{"losses": [0, 0.1,'
refused "json.jsonl:3: not valid JSON" json.jsonl
file column.jsonl "$H" '{"losses": [0, 0.1, 0.5]}' '{"losses": [0, 0.1]}'
refused 'column.jsonl:3: key "losses" has 2 values for 3 lambdas (a lambda column missing)' column.jsonl
file high.jsonl "$H" '{"losses": [0, 1.5, 0.5]}'
refused 'high.jsonl:2: key "losses" at lambda 0.5: 1.5 is outside [0, 1]' high.jsonl
file negative.jsonl "$H" '{"losses": [0, 0.1, -0.01]}'
refused 'negative.jsonl:2: key "losses" at lambda 0: -0.01 is outside [0, 1]' negative.jsonl
file string.jsonl "$H" '{"losses": [0, "0.1", 0]}'
refused 'string.jsonl:2: key "losses" at lambda 0.5: "0.1" is not a number' string.jsonl
file nolosses.jsonl "$H" '{"loss": [0, 0.1, 0]}'
refused 'nolosses.jsonl:2: key "losses" missing' nolosses.jsonl
file noheader.jsonl '{"losses": [0, 0.1, 0.5]}'
refused "noheader.jsonl:1: the first line must be the header" noheader.jsonl
file top.jsonl "${H/\[1, 0.5, 0\]/[0.9, 0.5, 0]}" '{"losses": [0, 0.1, 0.5]}'
refused "top.jsonl:1: key 'lambdas' must start at 1" top.jsonl
file order.jsonl "${H/\[1, 0.5, 0\]/[1, 0.5, 0.5]}" '{"losses": [0, 0.1, 0.5]}'
refused "order.jsonl:1: key 'lambdas' must descend strictly: 0.5 after 0.5" order.jsonl
file empty.jsonl "$H"
refused "empty.jsonl: the losses file has a header but no examples" empty.jsonl
file layers.jsonl "$H" '{"losses": [0, 0.1, 0.5], "layers": [8, 4, 2]}' '{"losses": [0, 0.1, 0.5]}'
refused 'layers.jsonl:3: key "layers" is missing but on line 2' layers.jsonl
refused "holds textual rougeL losses on words, not the risk rougeL" ok.jsonl --consistency risk
file noref.jsonl "$O" '{"full": "a b", "early": ["a b", "a", "a"], "reference": "a b"}' '{"full": "a b", "early": ["a b", "a", ""]}'
refused 'noref.jsonl:3: risk consistency needs a "reference"' noref.jsonl --consistency risk
file early.jsonl "$O" '{"full": "a b", "early": ["a b", "a"]}'
refused 'early.jsonl:2: key "early" must be a list of one text per lambda (3), found 2' early.jsonl
file hash.jsonl "${H%\}}, \"model\": {\"hash\": \"0000000000000001\"}}" '{"losses": [0, 0.1, 0.5]}'
refused "hash.jsonl: the losses were computed with model hash 0000000000000001" hash.jsonl
# Without --model and without a hash in the file: a usage error.
"$calm" calibrate --losses "$dir/ok.jsonl" --delta 0.2 --out "$dir/x.json" > "$dir/usage.txt" 2>&1
[ $? = 2 ] || fail "--losses without a model hash did not exit 2"
expect "names no model hash: give --model DIR" "$dir/usage.txt"
"$calm" calibrate --losses "$dir/ok.jsonl" --model "$model" --tau 2 --delta 0.2 --out "$dir/x.json" > "$dir/usage.txt" 2>&1
[ $? = 2 ] || fail "--losses with --tau did not exit 2"
expect "drop --tau" "$dir/usage.txt"
[ -e "$dir/x.json" ] && fail "a refused command wrote a thresholds file"
echo "$failures failures"
