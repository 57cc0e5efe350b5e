#!/bin/bash
# test.sh - the second command: the whole test suite in four builds, each with
# -Werror: plain, Release with PGO, AddressSanitizer + UndefinedBehaviorSanitizer,
# valgrind memcheck;
# then the parser's fuzz target for a short while.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
status=0
run_suite() {   # run_suite NAME CMAKE-ARGS...
  local name=$1; shift
  echo "== $name build =="
  cmake -S . -B "build-$name" -DRECLAIMD_WERROR=ON "$@" >/dev/null
  cmake --build "build-$name" -j"$jobs"
  echo "== $name tests =="
  (cd "build-$name" && ctest --output-on-failure -j"$jobs") || status=1
}

run_suite plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
# The build setup.sh makes and bench/ measures (Release, LTO, PGO): its three
# stages, then the whole suite against what it built.
echo "== release (PGO) build =="
bash scripts/build-release.sh build-release
echo "== release (PGO) tests =="
(cd build-release && ctest --output-on-failure -j"$jobs") || status=1
run_suite asan -DCMAKE_BUILD_TYPE=Debug -DRECLAIMD_SANITIZE=address,undefined
# Every unit test again under valgrind memcheck (pool blocks described with client requests).
run_suite valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECLAIMD_VALGRIND=ON -DRECLAIMD_BENCH=OFF

# The libFuzzer targets, briefly (clang, ASan+UBSan, every library instrumented):
# fuzz_nj (any bytes as records of one stream: must round-trip, the same with
# or without the shapes kept across records) and fuzz_ro (any bytes as a
# program of runtime operations: no leak, no invalid access). Any crash, leak
# or mismatch fails the run.
echo "== fuzz build =="
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRECLAIMD_SANITIZE=address,undefined -DRECLAIMD_FUZZ=ON -DRECLAIMD_TESTS=OFF -DRECLAIMD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
for target in fuzz_nj fuzz_ro; do
  echo "== $target (${RECLAIMD_FUZZ_SECONDS:-30} s) =="
  corpus=$(mktemp -d)
  seeds=""
  [ -d "fuzz/corpus_${target#fuzz_}" ] && seeds="fuzz/corpus_${target#fuzz_}"
  # shellcheck disable=SC2086  # $seeds is empty or one directory
  if ./build-fuzz/fuzz/$target -max_total_time="${RECLAIMD_FUZZ_SECONDS:-30}" -print_final_stats=1 \
       -artifact_prefix=build-fuzz/ "$corpus" $seeds > "build-fuzz/$target.log" 2>&1; then
    echo "$target: $(grep -E '^Done' "build-fuzz/$target.log"), no failure"
  else
    echo "$target: FAILED (see build-fuzz/$target.log)"; tail -30 "build-fuzz/$target.log"; status=1
  fi
  rm -rf "$corpus"
done

if [ $status -ne 0 ]; then
  echo "test.sh: FAILED"
else
  echo "test.sh: all suites passed"
fi
exit $status
