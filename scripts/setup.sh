#!/bin/bash
# setup.sh - the first command: install dependencies, build, run the built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "== demo: the seed experiment (10M ints built and dropped, vs CPython) =="
./build/bench/seed
