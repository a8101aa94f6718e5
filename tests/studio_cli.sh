#!/usr/bin/env bash
# calm-studio's command line without a display: --help and --version answer
# (no DISPLAY, no WAYLAND_DISPLAY, QT_QPA_PLATFORM unset: creating a
# QApplication would abort), the interactive app says there is no display,
# and every option of --screenshot is bounded with a message naming it
# (exit 2, nothing written). A small screenshot still renders.
# Usage: studio_cli.sh CALM_STUDIO MODEL_DIR
set -u
studio=$1 model=$2
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
export XDG_RUNTIME_DIR=$dir  # keeps Qt quiet about a missing runtime directory
bare() { env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$studio" "$@"; }

out=$(bare --help 2>&1); code=$?
[[ $code -eq 0 && $out == *"--screenshot <FILE>"* && $out == *"--size <WxH>"* && $out == *"1-8192"* ]] ||
  fail "--help -> exit $code: $out"
out=$(bare --version 2>&1); code=$?
[[ $code -eq 0 && $out == "calm-studio 0.1.0" ]] || fail "--version -> exit $code: $out"
out=$(bare -h 2>&1); code=$?
[[ $code -eq 0 && $out == *"--model <DIR>"* ]] || fail "-h -> exit $code: $out"
out=$(bare 2>&1); code=$?
[[ $code -eq 2 && $out == *"no display"* ]] || fail "no display -> exit $code: $out"

# expect_bad PATTERN ARGS...: exit 2 with PATTERN, and no screenshot written.
expect_bad() {
  local pattern=$1 out code
  shift
  out=$(bare --screenshot "$dir/s.png" --model "$model" "$@" 2>&1)
  code=$?
  [[ $code -eq 2 && $out == *"$pattern"* ]] || fail "$* -> exit $code, expected 2 with '$pattern': $out"
  [[ ! -e $dir/s.png ]] || fail "$* wrote a screenshot"
}
for size in 40000x40000 8193x100 100x8193 0x100 100x0 -5x100 abc 100x 1e3x100 100x100x100; do
  expect_bad "--size must be WxH with each side from 1 to 8192, got '$size'" --prompt x --size "$size"
done
expect_bad "--draft must be a whole number from 1 to 16, got '99'" --prompt x --draft 99
expect_bad "--examples must be a whole number from 1 to 100000, got '0'" --prompt x --examples 0
expect_bad "--examples must be a whole number from 1 to 100000, got '1e9'" --prompt x --examples 1e9
expect_bad "--select must be a whole number from 0 to 1000000, got '-1'" --prompt x --select -1
expect_bad "--example must be a whole number from 0 to 1000000, got 'abc'" --example abc
expect_bad "--lambda must be a number in [0, 1]" --prompt x --lambda nan
expect_bad "--lambda must be a number in [0, 1]" --prompt x --lambda 1.5
expect_bad "--mode must be calm, catch-up or verify" --prompt x --mode fast
expect_bad "--measure: unknown confidence measure 'entropy'" --prompt x --measure entropy
expect_bad "--delta must be a number between 0 and 1, got '0'" --prompt x --delta 0
expect_bad "--no-repeat-ngram must be a whole number from 0 to 64, got '65'" --prompt x --no-repeat-ngram 65
expect_bad "--tab must be one of heatmap, comparison, schedule, measures, calibration, help, got 'plots'" --prompt x --tab plots
expect_bad "--screenshot needs --prompt TEXT or --example N"
expect_bad "Unknown option 'bogus'" --prompt x --bogus

# Within the bounds it renders, with no display either.
out=$(bare --screenshot "$dir/ok.png" --model "$model" --prompt "And God said" --size 640x400 --tab calibration 2>&1)
code=$?
[[ $code -eq 0 && -s $dir/ok.png && $(head -c 8 "$dir/ok.png" | od -An -c | tr -d ' ') == *PNG* ]] ||
  fail "a 640x400 screenshot -> exit $code: $out"

finish
