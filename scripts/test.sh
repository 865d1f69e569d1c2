#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every CTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
