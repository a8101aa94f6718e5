#!/usr/bin/env bash
# Quick start #2: installs everything, builds, and runs the whole test suite
# (CTest over the Qt Test suites, then the training code's pytest suite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
export QT_QPA_PLATFORM=offscreen
ctest --test-dir build --output-on-failure -j "$(nproc)"
# Debian's torch is visible to /usr/bin/python3 only.
/usr/bin/python3 -m pytest -q training/tests
