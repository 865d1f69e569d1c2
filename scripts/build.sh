#!/usr/bin/env bash
# Configures and builds imprint in ./build (Release), then installs the Python module for
# Debian's /usr/bin/python3 (`import imprint`). Usage: scripts/build.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
ninja -C build
# The Python module (tools/python) into /usr/local/lib/python3.X/dist-packages.
if grep -q '^IMPRINT_BUILD_PYTHON:BOOL=ON' build/CMakeCache.txt; then
  install=(cmake --install build --component python)
  [ "$(id -u)" -eq 0 ] || install=(sudo "${install[@]}")
  "${install[@]}" >/dev/null
fi
