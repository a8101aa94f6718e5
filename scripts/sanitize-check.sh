#!/usr/bin/env bash
# Builds calm_core, the calm CLI and every test suite that needs no Qt Widgets
# with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, -O1 with
# assertions on) and runs them through CTest. Any sanitizer report aborts the
# test that triggered it, so the script fails.
#   bash scripts/sanitize-check.sh           # JOBS=N to limit the build's parallelism
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
bash scripts/install-deps.sh
# -O1 -g without NDEBUG: fast enough for the model tests, and assert()/Eigen's
# bounds checks stay on. (At -O1 GCC 12 warns falsely inside its AVX-512 intrinsics.)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -Wno-uninitialized" \
  -DCALM_SANITIZE=ON -DCALM_BUILD_APP=OFF -DCALM_BUILD_TESTS=ON
cmake --build build-asan -j "$JOBS"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export QT_QPA_PLATFORM=offscreen
# The bundled_thresholds_fresh* tests are thousand-example calibrations: the
# same code as the other calibrate tests, run long; under the sanitizers each
# would take a quarter of an hour.
ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 1800 -E '^bundled_thresholds_fresh'
