#!/bin/bash
# build-release.sh [BUILD_DIR [CMAKE-ARGS...]] - the Release build, trained by
# profile (PGO): an instrumented reclaimd runs scripts/pgo_train.py's workload,
# then the same build directory is rebuilt with the profile (see RECLAIMD_PGO
# in CMakeLists.txt). CMAKE-ARGS go to the first configure and stay in the
# cache (the packages pass their install paths and flags). RECLAIMD_PGO=off
# in the environment builds plain Release instead.
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
shift $(($# > 0 ? 1 : 0))
jobs=$(nproc)
if [ "${RECLAIMD_PGO:-on}" = off ]; then
    cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DRECLAIMD_PGO= "$@" >/dev/null
    cmake --build "$b" -j"$jobs"
    exit 0
fi
prof=$(realpath -m "$b")/pgo-profile
rm -rf "$prof"
echo "== PGO 1/3: instrumented build =="
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release "$@" -DRECLAIMD_PGO=generate -DRECLAIMD_PGO_DIR="$prof" >/dev/null
cmake --build "$b" -j"$jobs" --target reclaimd
echo "== PGO 2/3: training run =="
/usr/bin/python3 scripts/pgo_train.py "$b/daemon/reclaimd"
echo "== PGO 3/3: build with the profile =="
cmake -S . -B "$b" -DRECLAIMD_PGO=use >/dev/null
cmake --build "$b" -j"$jobs"
