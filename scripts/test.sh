#!/bin/bash
# test.sh - the second command: the whole test suite in three builds, each with
# -Werror: plain, AddressSanitizer + UndefinedBehaviorSanitizer, valgrind memcheck.
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
run_suite asan -DCMAKE_BUILD_TYPE=Debug -DRECLAIMD_SANITIZE=address,undefined
# Every unit test again under valgrind memcheck (pool blocks described with client requests).
run_suite valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECLAIMD_VALGRIND=ON -DRECLAIMD_BENCH=OFF

if [ $status -ne 0 ]; then
  echo "test.sh: FAILED"
else
  echo "test.sh: all suites passed"
fi
exit $status
