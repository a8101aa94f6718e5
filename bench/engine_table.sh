#!/bin/bash
# The engine table of docs/performance.md in one run: `calm bench --engine` on
# random-weight checkpoints of real shapes, per storage type and thread count,
# and llama.cpp's llama-bench on the same weights exported as GGUF F16 when
# LLAMA_BENCH names its binary. Ratios are only meaningful within one run.
#
#   /usr/bin/python3 bench/make_checkpoint.py --shape tinyllama-1.1b --out /tmp/calm-bench/tinyllama
#   /usr/bin/python3 bench/export_gguf.py --model /tmp/calm-bench/tinyllama --out /tmp/calm-bench/tinyllama-f16.gguf
#   LLAMA_BENCH=/path/to/llama-bench bash bench/engine_table.sh /tmp/calm-bench/tinyllama
#
# Environment: CALM (default build/app/calm), TYPES (bf16 f16 q8), THREADS
# (1 2), TOKENS (32), REPEATS (3).
set -euo pipefail
model=${1:?usage: engine_table.sh MODEL_DIR}
calm=${CALM:-build/app/calm}
types=${TYPES:-bf16 f16 q8}
threads=${THREADS:-1 2}
tokens=${TOKENS:-32}
repeats=${REPEATS:-3}

for type in $types; do
  for t in $threads; do
    "$calm" bench --engine --model "$model" --weights "$type" --threads "$t" --tokens "$tokens" \
      --repeats "$repeats" 2>/dev/null
    echo
  done
done

gguf="${model%/}-f16.gguf"
if [ -n "${LLAMA_BENCH:-}" ]; then
  [ -f "$gguf" ] || { echo "no $gguf: run bench/export_gguf.py first" >&2; exit 1; }
  # -mmp 0: weights read into memory, as calm holds them; -p 0: no prompt pass.
  "$LLAMA_BENCH" -m "$gguf" -t "$(echo $threads | tr ' ' ',')" -p 0 -n "$tokens" -r "$repeats" -mmp 0 -o md 2>/dev/null
fi
