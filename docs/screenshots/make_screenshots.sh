#!/bin/sh
# Regenerates the CALM Studio screenshots of the README from the bundled
# models, under a virtual X display. Run from the repository root:
#
#   docs/screenshots/make_screenshots.sh [BUILD_DIR [OUT_DIR]]
#
# (defaults: build, docs/screenshots). Needs xvfb-run (Debian package xvfb)
# and a build with CALM_BUILD_APP=ON. scripts/compare-screenshots.sh renders
# them with two builds to check that a refactoring left the views alone.
set -u
BUILD=${1:-build}
APP="$BUILD/app/calm-studio"
OUT=${2:-docs/screenshots}
[ -x "$APP" ] || { echo "no $APP: build calm-studio first" >&2; exit 2; }
mkdir -p "$OUT"

shot() {
  name=$1; shift
  xvfb-run -a -s "-screen 0 1600x1000x24" "$APP" --size 1600x1000 --screenshot "$OUT/$name.png" "$@" ||
    echo "failed: $name" >&2
}

# Generation: token chips, the selected token's confidence, full model vs CALM.
shot studio-compare --model kjv2web --example 1 --lambda 0.6 --tab comparison --select 3
# The tokens x layers heat map with the exit path.
shot studio-heatmap --model kjv2web --example 2 --lambda 0.5 --tab heatmap --select 6
# Verify mode (lossless): accepted drafts checked, corrections in blue, rejected drafts struck through.
shot studio-verify --model kjv2web --example 11 --lambda 0.1 --mode verify --draft 4 --tab comparison --select 2
# Calibration on the bundled set; lambda then comes from it.
shot studio-calibration --model kjv2web --example 1 --tab calibration \
  --calibrate resources/data/kjv2web/calibration.jsonl --examples 300
# The threshold schedule; on the decoder-only model once it is bundled.
shot studio-schedule --model kjv2web --example 0 --lambda 0.7 --tab schedule --select 2
# The decoder-only model as a demo runs it: the early-exit classifier at its bundled certified
# lambda for delta 0.25, repeated 3-grams banned.
shot studio-prose --model prose --example 6 --measure classifier --delta 0.25 --no-repeat-ngram 3 --tab heatmap
# The prompt decoded with each measure and the local oracle, side by side.
shot studio-measures --model kjv2web --example 2 --tab measures
# The step-by-step playback: a token's layers climbing toward the threshold.
shot studio-playback --model kjv2web --example 1 --lambda 0.6 --tab heatmap --playback-step 9
# A step of Help > Guided tour.
shot studio-tour --model kjv2web --example 1 --tour-step 3
