#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (build-fuzz/; installs clang
# when it is missing) and runs each for FUZZ_SECONDS (default 60) from its seed
# corpus in fuzz/corpus/. Fails when any target crashes, leaks, times out or
# runs out of memory; the input that did it is left in build-fuzz/artifacts/.
#   bash scripts/fuzz-check.sh               # FUZZ_SECONDS=N, JOBS=N
#   bash scripts/fuzz-check.sh jsonl config  # only these targets
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=("$@")
# Every target (CMakeLists.txt's CALM_FUZZ_TARGETS) unless some are named.
if [ ${#TARGETS[@]} -eq 0 ]; then
  read -ra TARGETS <<< "$(sed -n '/^set(CALM_FUZZ_TARGETS/,/)/p' CMakeLists.txt | sed 's/set(CALM_FUZZ_TARGETS//; s/)//' | tr '\n' ' ')"
fi

bash scripts/install-deps.sh
# clang and its runtime (libFuzzer, the sanitizers) are needed here only.
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-dev
fi

cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCALM_FUZZ=ON -DCALM_BUILD_APP=OFF -DCALM_BUILD_TESTS=OFF
cmake --build build-fuzz -j "$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
for t in "${TARGETS[@]}"; do
  work=build-fuzz/corpus/$t            # grows across runs; the seeds stay as committed
  mkdir -p "$work" build-fuzz/artifacts
  echo "== fuzz_$t: ${SECONDS_EACH}s"
  if ! build-fuzz/fuzz/fuzz_$t -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
        -dict=fuzz/json.dict -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
        "$work" "fuzz/corpus/$t" 2>"build-fuzz/fuzz_$t.log"; then
    tail -n 60 "build-fuzz/fuzz_$t.log"
    failed+=("$t")
  else
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "build-fuzz/fuzz_$t.log" || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-check: failed: ${failed[*]} (inputs in build-fuzz/artifacts/, logs in build-fuzz/fuzz_*.log)" >&2
  exit 1
fi
echo "fuzz-check: ${TARGETS[*]}: no crashes in ${SECONDS_EACH}s each"
