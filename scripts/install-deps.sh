#!/usr/bin/env bash
# Installs everything imprint needs to build, test and benchmark, from Debian 12's packages only.
# Safe to run again: it does nothing when every package is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libopencv-dev libopencv-contrib-dev       # decoding, img_hash baselines, local features
  libfaiss-dev                              # vector indexes
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev  # video
  libx264-164                               # the video tests encode their clips with libx264
  libeigen3-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libwebp-dev libgif-dev
  libarchive-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libcpp-httplib-dev libssl-dev
  gnome-backgrounds mate-backgrounds sway-backgrounds  # photos for benchmarks and the demo
  chromium python3-websocket                # the creators' page test drives headless Chromium
  python3-dev pybind11-dev python3-pybind11 python3-pytest python3-numpy  # `import imprint`
  python3-grpc-tools python3-grpcio         # the Python client test generates stubs from the proto
  clang libclang-rt-14-dev                  # scripts/fuzz.sh: clang++ and libFuzzer (+ ASan runtime)
  postgresql libpq-dev                      # the PostgreSQL catalog; its tests start their own cluster
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The video tests fail (never skip) without FFmpeg's libx264 encoder. Debian 12's libavcodec59
# links libx264-164; an FFmpeg built without it (a backport, a local build) is caught here.
check_x264() {
  local lib
  lib="$(pkg-config --variable=libdir libavcodec)/libavcodec.so"
  # Not grep -q: it stops reading at the first match, and under pipefail ldd's SIGPIPE would fail
  # the pipeline (and this check) on a correct library now and then.
  if ! ldd "$lib" | grep 'libx264\.so' >/dev/null; then
    echo "install-deps: $lib has no libx264 encoder (Debian's libavcodec59 with libx264-164 has)" >&2
    exit 1
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  check_x264
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
check_x264
