#!/usr/bin/env bash
# calm calibrate --shard I/N and --merge: a bundled model's calibration set run
# as 3 shards and merged certifies exactly as one run on the whole set: the
# report (JSON and CSV) and the thresholds file are equal byte for byte once
# the creation time and the measured wall-clock speedups are removed
# (scripts/without-timings.sh); a 4-shard split gives the same again. Merges of
# a missing shard, a duplicated example, caches of other settings, data or
# model, a damaged line, a torn line and an unfinished shard are refused naming
# the file (and line or example). Everything lives in a temporary directory.
# Usage: cli_calibrate_shards.sh CALM SOURCE_DIR
set -u
calm=$1 src=$2
strip=$src/scripts/without-timings.sh
model=$src/resources/models/kjv2web
other_model=$src/resources/models/prose
data=$src/resources/data/kjv2web/calibration.jsonl
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

run=(--model "$model" --data "$data" --limit 30 --max-new-tokens 8 --grid-step 0.1)
certify=(--delta 0.25 --settings risk:0.05)
"$calm" calibrate "${run[@]}" "${certify[@]}" --out "$dir/single.json" --report "$dir/single-report.json" \
  > "$dir/single.txt" 2>&1 || { fail "the single run failed:"; cat "$dir/single.txt"; }

# same_as_single NAME: NAME.json, NAME-report.json and .csv equal the single run's, timings aside.
same_as_single() {
  local a b
  for pair in "single.json $1.json" "single-report.json $1-report.json" "single-report.csv $1-report.csv"; do
    read -r a b <<< "$pair"
    if ! cmp -s <("$strip" "$dir/$a") <("$strip" "$dir/$b"); then
      fail "$b differs from $a (timings aside):"
      diff <("$strip" "$dir/$a") <("$strip" "$dir/$b") | head -20
    fi
  done
}

shard() {  # shard I/N CACHE [more options]
  local spec=$1 cache=$2
  shift 2
  "$calm" calibrate "${run[@]}" --shard "$spec" --cache "$cache" "$@" > "$dir/shard.txt" 2>&1 ||
    { fail "shard $spec failed:"; cat "$dir/shard.txt"; }
}
for i in 1 2 3; do shard "$i/3" "$dir/s$i.jsonl"; done
expect "shard 3/3 (split seed 0): 10 of 30 examples" "$dir/shard.txt"
# The shards' caches list every example once between them, each in one shard.
lines=$(cat "$dir"/s[123].jsonl | grep -vc calm_calibration_cache)
[ "$lines" = 30 ] || fail "the 3 shards hold $lines example lines, not 30"
"$calm" calibrate "${run[@]}" "${certify[@]}" --merge "$dir/s1.jsonl" "$dir/s2.jsonl" "$dir/s3.jsonl" \
  --out "$dir/merged.json" --report "$dir/merged-report.json" > "$dir/merged.txt" 2>&1 ||
  { fail "the merge failed:"; cat "$dir/merged.txt"; }
same_as_single merged
# The chosen lambda is printed the same, and the merge is a certificate, not exploratory.
chosen=$(grep -o '^chosen:  lambda [0-9.]*' "$dir/single.txt")
[ -n "$chosen" ] || fail "the single run printed no choice"
expect "$chosen" "$dir/merged.txt"
expect '"certification": "certified"' "$dir/merged.json"

# Another split (4 shards, seed 7), in another order on the command line: the same certificate.
for i in 1 2 3 4; do shard "$i/4" "$dir/f$i.jsonl" --shard-seed 7; done
"$calm" calibrate "${run[@]}" "${certify[@]}" --merge "$dir/f3.jsonl" "$dir/f1.jsonl" "$dir/f4.jsonl" "$dir/f2.jsonl" \
  --out "$dir/four.json" --report "$dir/four-report.json" > "$dir/four.txt" 2>&1 ||
  { fail "the 4-shard merge failed:"; cat "$dir/four.txt"; }
same_as_single four

# refused TEXT CACHE...: the merge fails and says TEXT.
refused() {
  local text=$1
  shift
  if "$calm" calibrate "${run[@]}" "${certify[@]}" --out "$dir/bad.json" --merge "$@" > "$dir/bad.txt" 2>&1; then
    fail "a merge of $* was accepted"
  else
    expect "$text" "$dir/bad.txt"
  fi
  [ -e "$dir/bad.json" ] && fail "a refused merge wrote a thresholds file"
  rm -f "$dir/bad.json"
}
refused "shards not given: 2/3" "$dir/s1.jsonl" "$dir/s3.jsonl"
cp "$dir/s1.jsonl" "$dir/s1-copy.jsonl"
refused "a second cache of shard 1/3" "$dir/s1.jsonl" "$dir/s2.jsonl" "$dir/s3.jsonl" "$dir/s1-copy.jsonl"
refused "shards of different splits" "$dir/s1.jsonl" "$dir/f2.jsonl"
# The single run's cache holds every example: with a shard, the shard's first example is duplicated.
refused "$dir/s2.jsonl:2: example" "$dir/single.cache.jsonl" "$dir/s2.jsonl"
expect "is already in $dir/single.cache.jsonl: a duplicated example" "$dir/bad.txt"
refused "the same cache is given twice" "$dir/s1.jsonl" "$dir/s2.jsonl" "$dir/s3.jsonl" "$dir/s1.jsonl"
shard 2/3 "$dir/tau.jsonl" --tau 2
refused "$dir/tau.jsonl: this cache was made with other settings, another model or other data (settings.tau: 2" \
  "$dir/s1.jsonl" "$dir/tau.jsonl" "$dir/s3.jsonl"
shard 2/3 "$dir/data.jsonl" --limit-seed 1
refused "$dir/data.jsonl: this cache was made with other settings, another model or other data (data_hash:" \
  "$dir/s1.jsonl" "$dir/data.jsonl" "$dir/s3.jsonl"
"$calm" calibrate --model "$other_model" --data "$data" --limit 30 --max-new-tokens 8 --grid-step 0.1 --shard 2/3 \
  --cache "$dir/model.jsonl" > "$dir/shard.txt" 2>&1 || { fail "the other model's shard failed"; cat "$dir/shard.txt"; }
refused "$dir/model.jsonl: this cache was made with other settings, another model or other data (model_hash:" \
  "$dir/s1.jsonl" "$dir/model.jsonl" "$dir/s3.jsonl"
# A damaged line (one digit changed), a torn last line, a lost line.
sed '3s/"i":/"i": /' "$dir/s2.jsonl" > "$dir/damaged.jsonl"
refused "$dir/damaged.jsonl:3: the line fails its checksum" "$dir/s1.jsonl" "$dir/damaged.jsonl" "$dir/s3.jsonl"
head -c -20 "$dir/s2.jsonl" > "$dir/torn.jsonl"
refused "$dir/torn.jsonl:11: the last line is torn" "$dir/s1.jsonl" "$dir/torn.jsonl" "$dir/s3.jsonl"
head -n -1 "$dir/s2.jsonl" > "$dir/short.jsonl"
refused "shard 2/3 is unfinished" "$dir/s1.jsonl" "$dir/short.jsonl" "$dir/s3.jsonl"
expect "is in none of the caches (1 of 30 examples missing)" "$dir/bad.txt"

# Usage errors (exit 2), before any run.
usage() {
  local text=$1 code
  shift
  "$calm" calibrate "${run[@]}" "$@" > "$dir/usage.txt" 2>&1
  code=$?
  [ "$code" = 2 ] || fail "calibrate $* exited $code, not 2"
  expect "$text" "$dir/usage.txt"
}
usage "is not I/N" --shard 0/3 --cache "$dir/x.jsonl"
usage "is not I/N" --shard 4/3 --cache "$dir/x.jsonl"
usage "is not I/N" --shard a/b --cache "$dir/x.jsonl"
usage "drop --delta" --shard 1/3 --cache "$dir/x.jsonl" --delta 0.1
usage "--shard needs --cache" --shard 1/3
usage "--merge needs the shards' caches" --delta 0.1 --out "$dir/x.json" --merge
usage "drop --cache" --delta 0.1 --out "$dir/x.json" --cache "$dir/x.jsonl" --merge "$dir/s1.jsonl"
usage "give one of them" --shard 1/3 --cache "$dir/x.jsonl" --merge "$dir/s1.jsonl"
[ -e "$dir/x.jsonl" ] && fail "a refused command wrote a cache"
finish
