#!/bin/bash
# setup.sh - the first command: install dependencies, build, run the built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build-release.sh build   # Release, LTO, trained by profile (PGO)
demo=$(mktemp -d /tmp/reclaimd-demo.XXXXXX)
echo
echo "== demo: reclaimd --demo $demo (generated users through the summary job, crash-safe spool) =="
./build/daemon/reclaimd --demo "$demo"
echo
echo "== the seed experiment: 10M ints built and dropped, reclaimd's runtime vs CPython =="
./build/bench/seed
