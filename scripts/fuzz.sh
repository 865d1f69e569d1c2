#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in their own build folder and runs each for a
# bounded time; exits non-zero on the first crash, leak or hang. Not part of the default tests:
# it needs a second, instrumented build of every library.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [BUILD_DIR]     (defaults: 20, build-fuzz)
#
# Crashing inputs are left in BUILD_DIR/fuzz-out/TARGET/ (libFuzzer's crash-* files); corpora
# grow in BUILD_DIR/fuzz-corpus/TARGET/ and are reused by the next run.
set -euo pipefail
seconds="${1:-20}"
build="${2:-build-fuzz}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMPRINT_FUZZ=ON \
  -DIMPRINT_WERROR=OFF -DIMPRINT_BUILD_TESTS=OFF -DIMPRINT_BUILD_BENCHMARKS=OFF \
  -DIMPRINT_BUILD_PYTHON=OFF >/dev/null
targets=(image_probe_fuzzer hash_list_fuzzer tar_member_fuzzer proto_request_fuzzer)
ninja -C "$build" "${targets[@]}"

# Seeds: a few small valid inputs of each kind (fuzz/seeds/TARGET/), so the fuzzer starts past
# the magic numbers; the JPEGs of the PDQ reference set are added when a checkout has them.
for t in "${targets[@]}"; do
  mkdir -p "$build/fuzz-corpus/$t"
  cp -n fuzz/seeds/"$t"/* "$build/fuzz-corpus/$t/" || true  # -n: a kept corpus is not replaced
done
find ../shared/pdq-reference/images -name '*.jpg' -size -64k \
  -exec cp -n {} "$build/fuzz-corpus/image_probe_fuzzer/" \; 2>/dev/null || true

status=0
for t in "${targets[@]}"; do
  out="$build/fuzz-out/$t"
  mkdir -p "$out" "$build/fuzz-corpus/$t"
  echo "== $t: ${seconds} s"
  # -rss_limit_mb: a header that makes us allocate by its claim is a finding, not a swap storm.
  if ! ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$out/" -print_final_stats=1 \
      "$build/fuzz-corpus/$t" 2>"$out/log.txt"; then
    echo "   FAILED: see $out/log.txt"
    tail -n 30 "$out/log.txt"
    status=1
  else
    # The last status line (coverage, corpus units/bytes), the run count and rate, peak memory.
    grep -a -E "DONE|^Done|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" \
      "$out/log.txt" | sed 's/^/   /'
  fi
done
exit "$status"
