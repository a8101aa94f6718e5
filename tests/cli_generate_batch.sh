#!/usr/bin/env bash
# calm generate --data/--out: one line per example in input order, each the
# same text as a single `calm generate --prompt` of that input; other fields
# kept; --threads changes nothing but speed; a bad line is named (or skipped
# with --skip-bad-lines); an example that fails is an "error" line and exit 1;
# --out may not be --data. Usage: cli_generate_batch.sh CALM MODEL_DIR
set -u
calm=$1 model=$2
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
opts=(--model "$model" --max-new-tokens 8 --lambda 0.5)
cat > "$dir/in.jsonl" <<'JSONL'
{"input": "And God said, Let there be light", "id": "a"}
{"input": "In the beginning", "id": "b", "reference": "At first"}
{"input": 7}
{"input": "And the evening and the morning were the first day", "id": "c"}
JSONL

"$calm" generate "${opts[@]}" --data "$dir/in.jsonl" --out "$dir/out.jsonl" > "$dir/bad.txt" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "a bad line: exit $rc, expected 1"
grep -qF "$dir/in.jsonl:3:" "$dir/bad.txt" || fail "the bad line is not named: $(cat "$dir/bad.txt")"
[ -e "$dir/out.jsonl" ] && fail "an output was written although the data file was refused"

"$calm" generate "${opts[@]}" --data "$dir/in.jsonl" --out "$dir/out.jsonl" --skip-bad-lines --threads 1 > "$dir/one.txt" 2>&1 \
  || fail "generate --data --skip-bad-lines failed: $(cat "$dir/one.txt")"
"$calm" generate "${opts[@]}" --data "$dir/in.jsonl" --out "$dir/out2.jsonl" --skip-bad-lines --threads 2 > /dev/null 2>&1 \
  || fail "generate --data --threads 2 failed"
[ "$(wc -l < "$dir/out.jsonl")" -eq 3 ] || fail "expected 3 output lines, got $(wc -l < "$dir/out.jsonl")"
grep -qF "3 of 3 examples written" "$dir/one.txt" || fail "no summary: $(cat "$dir/one.txt")"

python3 - "$dir/out.jsonl" "$dir/out2.jsonl" "$calm" "${opts[@]}" <<'PY' || failures=$((failures + 1))
import json, subprocess, sys
out, out2, calm, opts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lines = [json.loads(l) for l in open(out)]
other = [json.loads(l) for l in open(out2)]
bad = []
if [l["line"] for l in lines] != [1, 2, 4]: bad.append(f"lines {[l['line'] for l in lines]}, expected [1, 2, 4]")
if [l.get("id") for l in lines] != ["a", "b", "c"]: bad.append("the id fields were not kept in order")
if lines[1].get("reference") != "At first": bad.append("the reference was not kept")
for a, b in zip(lines, other):
    if a["text"] != b["text"] or a["exit_layers"] != b["exit_layers"]: bad.append(f"--threads 2 differs at line {a['line']}")
for l in lines:
    single = subprocess.run([calm, "generate", *opts, "--prompt", l["input"], "--json"], capture_output=True, text=True)
    s = json.loads(single.stdout)
    if s["text"] != l["text"] or s["token_ids"] != l["token_ids"] or s["exit_layers"] != l["exit_layers"]:
        bad.append(f"line {l['line']}: {l['text']!r} differs from generate --prompt: {s['text']!r}")
    if len(l["exit_layers"]) != len(l["token_ids"]): bad.append("one exit layer per token expected")
print("\n".join("FAIL: " + b for b in bad))
sys.exit(1 if bad else 0)
PY

# An example too long for the model without --truncate: an error line, exit 1, the others written.
python3 -c "import json; print(json.dumps({'input': 'light ' * 5000})); print(json.dumps({'input': 'And God said'}))" > "$dir/long.jsonl"
"$calm" generate "${opts[@]}" --data "$dir/long.jsonl" --out "$dir/long-out.jsonl" > "$dir/long.txt" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "a failing example: exit $rc, expected 1"
grep -q '"error"' "$dir/long-out.jsonl" || fail "no error line for the long prompt"
[ "$(grep -c '"text"' "$dir/long-out.jsonl")" -eq 1 ] || fail "the good example was not written"
grep -qF "1 examples failed" "$dir/long.txt" || fail "the failure is not summarised: $(cat "$dir/long.txt")"

"$calm" generate "${opts[@]}" --data "$dir/in.jsonl" --out "$dir/in.jsonl" --skip-bad-lines > "$dir/same.txt" 2>&1
[ $? -ne 0 ] || fail "--out equal to --data was accepted"
[ "$(wc -l < "$dir/in.jsonl")" -eq 4 ] || fail "the data file was changed"
"$calm" generate "${opts[@]}" --data "$dir/in.jsonl" > /dev/null 2>&1 && fail "--data without --out was accepted"
finish
