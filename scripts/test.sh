#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every CTest suite (the accuracy floor
# included), then the sanitizer job (scripts/sanitize.sh: ASan+UBSan and TSan builds of a subset)
# and the fuzzing job (scripts/fuzz.sh --ci: each libFuzzer target for a fixed number of inputs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900 -j "$(nproc)"
scripts/sanitize.sh
scripts/fuzz.sh --ci
