#!/usr/bin/env bash
# The main job on the embedded default: installs, builds, makes sample works and uploads from
# the wallpaper packages, registers the works in a SQLite catalog in ./demo-data/catalog, and
# matches the uploads against it (some are edited copies, some unrelated).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
imprint=build/tools/imprint
data=demo-data
rm -rf "$data"
build/benchmarks/make_samples "$data"

echo
echo "== imprint hash $data/works   (hash,quality,path: the reference tool's format)"
"$imprint" hash "$data/works"

echo
echo "== imprint register: AI training denied, commercial use licensed to Acme Corp"
"$imprint" register --catalog "$data/catalog" --owner "Demo Studio" --deny ai-training \
  --licensed commercial --licensee "Acme Corp" "$data/works" | cut -c1-160

echo
echo "== imprint query --purpose ai-training $data/uploads"
"$imprint" query --catalog "$data/catalog" --purpose ai-training "$data/uploads"

echo
echo "== the same uploads for commercial use by the licensee Acme Corp"
"$imprint" query --catalog "$data/catalog" --purpose commercial --licensee "Acme Corp" "$data/uploads"

echo
echo "== imprint stats"
"$imprint" stats --catalog "$data/catalog"
