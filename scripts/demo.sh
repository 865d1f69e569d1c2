#!/usr/bin/env bash
# The main job on the embedded default: installs, builds, then fingerprints sample photos.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
imprint=build/tools/imprint
samples=/usr/share/backgrounds/mate/nature
echo
echo "== imprint hash $samples  (hash,quality,path: the reference tool's format)"
"$imprint" hash "$samples"
echo
echo "== the same photos, fast mode (DCT-scaled JPEG decode), as JSON"
"$imprint" hash --mode fast --json "$samples" | head -3
echo
a=$(ls "$samples"/*.jpg | head -1)
echo "== imprint compare $a with itself"
"$imprint" compare "$a" "$a"
