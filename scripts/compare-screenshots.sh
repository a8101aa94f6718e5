#!/usr/bin/env bash
# Did a change leave the app's views alone? Renders the README screenshots
# (docs/screenshots/make_screenshots.sh) with two builds, twice each, and
# reports, per screenshot, whether the two builds' images are byte-identical
# and which pixels differ outside the places where a build differs from
# itself (the measured timings, and the text their width moves). Run from
# the repository root; both builds need calm-studio.
#   usage: scripts/compare-screenshots.sh BUILD_BEFORE BUILD_AFTER OUT_DIR
# Exit status 1 when a difference is left over.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 BUILD_BEFORE BUILD_AFTER OUT_DIR" >&2; exit 2; }
before=$1 after=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
for run in 1 2; do
  sh docs/screenshots/make_screenshots.sh "$before" "$out/before-$run"
  sh docs/screenshots/make_screenshots.sh "$after" "$out/after-$run"
done
/usr/bin/python3 "$here/compare_screenshots.py" "$out"
