#!/usr/bin/env bash
# Prints a calibration report (JSON or its CSV) or a thresholds file without
# what differs between two runs of the same calibration: the creation time and
# the measured wall-clock speedups. Everything else (losses, p-values, chosen
# lambda, layers, FLOPs speedups) must then agree byte for byte between a run
# on one machine and the merge of its shards. The JSON files are written one
# key per line, so a timing is a whole line; in the CSV, the measured_speedup
# column is dropped. Usage: without-timings.sh FILE
set -eu
case $1 in
  *.csv)
    awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "measured_speedup") drop = i }
      { out = ""; for (i = 1; i <= NF; i++) if (i != drop) out = out (out == "" ? "" : OFS) $i; print out }' "$1" ;;
  *) grep -v -E '^ *"(created|measured_speedup)": ' "$1" ;;
esac
