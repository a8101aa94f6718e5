#!/usr/bin/env bash
# --repetition-penalty and --no-repeat-ngram end to end: generate reports them,
# calibrate records them in the thresholds file, its cache and its report, a
# cache made without them is refused, eval refuses other values (unless
# --force), bad values are usage errors naming the option, and the bundled
# calibration (made without them) is not used for a run with them.
# Everything lives in a temporary directory.
# Usage: cli_repetition.sh CALM MODEL_DIR DATA.jsonl
set -u
calm=$1 model=$2 data=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

"$calm" generate --model "$model" --prompt "And God said, Let there be light" --max-new-tokens 12 \
  --repetition-penalty 1.5 --no-repeat-ngram 2 --json > "$dir/gen.json" 2>&1
status 0 $? "generate with the remedies"
expect '"repetition_penalty": 1.5' "$dir/gen.json"
expect '"no_repeat_ngram_size": 2' "$dir/gen.json"

"$calm" generate --model "$model" --prompt x --repetition-penalty 0 > "$dir/bad1.txt" 2>&1
status 2 $? "--repetition-penalty 0"
expect "--repetition-penalty must be above 0" "$dir/bad1.txt"
"$calm" generate --model "$model" --prompt x --no-repeat-ngram -1 > "$dir/bad2.txt" 2>&1
status 2 $? "--no-repeat-ngram -1"
expect "--no-repeat-ngram" "$dir/bad2.txt"
"$calm" generate --model "$model" --prompt x --repetition-penalty nan > "$dir/bad3.txt" 2>&1
status 2 $? "--repetition-penalty nan"

cal=(calibrate --model "$model" --data "$data" --limit 4 --max-new-tokens 6 --grid-step 0.5 --delta 0.5)
"$calm" "${cal[@]}" --out "$dir/plain.json" > "$dir/plain.txt" 2>&1
status 0 $? "calibrate without the remedies"
refuse '"repetition_penalty"' "$dir/plain.json"
refuse '"no_repeat_ngram_size"' "$dir/plain.json"
# The same cache with the remedies: other settings, refused with what differs.
"$calm" "${cal[@]}" --no-repeat-ngram 2 --out "$dir/other.json" --cache "$dir/plain.cache.jsonl" > "$dir/cache.txt" 2>&1
status 1 $? "a cache made without the remedies"
expect "no_repeat_ngram_size" "$dir/cache.txt"

"$calm" "${cal[@]}" --repetition-penalty 1.25 --no-repeat-ngram 2 --out "$dir/rep.json" --report "$dir/rep-report.json" \
  > "$dir/rep.txt" 2>&1
status 0 $? "calibrate with the remedies"
expect '"repetition_penalty": 1.25' "$dir/rep.json"
expect '"no_repeat_ngram_size": 2' "$dir/rep.json"
expect '"no_repeat_ngram_size":2' "$dir/rep.cache.jsonl"
expect '"no_repeat_ngram_size": 2' "$dir/rep-report.json"

ev=(eval --model "$model" --data "$data" --limit 3 --thresholds "$dir/rep.json")
"$calm" "${ev[@]}" --json > "$dir/eval.json" 2>&1
status 0 $? "eval with the file's remedies"
expect '"repetition_penalty": 1.25' "$dir/eval.json"
"$calm" "${ev[@]}" --no-repeat-ngram 3 > "$dir/eval-other.txt" 2>&1
status 1 $? "eval with another n-gram size"
expect "was calibrated with no repeated 2-grams" "$dir/eval-other.txt"
"$calm" "${ev[@]}" --no-repeat-ngram 3 --force --json > "$dir/eval-force.json" 2>&1
status 0 $? "eval --force with another n-gram size"
expect '"no_repeat_ngram_size": 3' "$dir/eval-force.json"
"$calm" eval --model "$model" --data "$data" --limit 3 --thresholds "$dir/plain.json" --repetition-penalty 1 \
  > "$dir/eval-same.txt" 2>&1
status 0 $? "eval asking for the file's own (off) penalty"

finish
