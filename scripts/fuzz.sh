#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in their own build folder and runs each for a
# bounded time; exits non-zero on the first crash, leak or hang.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [BUILD_DIR]     (defaults: 20, build-fuzz)
#   scripts/fuzz.sh --ci [BUILD_DIR]
#
# Crashing inputs are left in BUILD_DIR/fuzz-out/TARGET/ (libFuzzer's crash-* files); corpora
# grow in BUILD_DIR/fuzz-corpus/TARGET/ and are reused by the next run.
#
# --ci is the test command's run: a fixed number of inputs per target from a fixed random seed,
# starting from the committed seeds alone (a fresh corpus in a temporary folder), so the same
# commit tries the same inputs on every machine and a red run is a finding, never a slow machine
# or an unlucky draw. About a minute after the build. A finding goes into fuzz/seeds/TARGET/,
# where every build's ctest replays it (Fuzz.ReplaySeeds.*) once it is fixed.
set -euo pipefail
ci=0
if [[ "${1:-}" == "--ci" ]]; then
  ci=1
  shift
  seconds=300  # a ceiling only: the run counts below end each target well before it
  build="${1:-build-fuzz}"
else
  seconds="${1:-20}"
  build="${2:-build-fuzz}"
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMPRINT_FUZZ=ON \
  -DIMPRINT_WERROR=OFF -DIMPRINT_BUILD_TESTS=OFF -DIMPRINT_BUILD_BENCHMARKS=OFF \
  -DIMPRINT_BUILD_PYTHON=OFF >/dev/null
targets=(image_probe_fuzzer image_decode_fuzzer hash_list_fuzzer tar_member_fuzzer
         proto_request_fuzzer http_request_fuzzer feature_index_fuzzer)
ninja -C "$build" "${targets[@]}"

# Inputs each target runs in --ci: about 10 s each on one core of this project's CI machine.
declare -A ci_runs=([image_probe_fuzzer]=1000000 [image_decode_fuzzer]=50000
                    [hash_list_fuzzer]=200000
                    [tar_member_fuzzer]=20000 [proto_request_fuzzer]=300000
                    [http_request_fuzzer]=2500 [feature_index_fuzzer]=200000)

# Seeds: a few small valid inputs of each kind (fuzz/seeds/TARGET/), so the fuzzer starts past
# the magic numbers; outside --ci the JPEGs of the PDQ reference set are added when a checkout
# has them.
corpus="$build/fuzz-corpus"
if (( ci )); then
  corpus="$(mktemp -d)"
  trap 'rm -rf "$corpus"' EXIT
fi
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
  cp -n fuzz/seeds/"$t"/* "$corpus/$t/" || true  # -n: a kept corpus is not replaced
done
if (( ! ci )); then
  for t in image_probe_fuzzer image_decode_fuzzer; do
    find ../shared/pdq-reference/images -name '*.jpg' -size -64k \
      -exec cp -n {} "$corpus/$t/" \; 2>/dev/null || true
  done
fi

status=0
for t in "${targets[@]}"; do
  out="$build/fuzz-out/$t"
  mkdir -p "$out" "$corpus/$t"
  budget=()
  if (( ci )); then
    budget=(-runs="${ci_runs[$t]}" -seed=1)
    echo "== $t: ${ci_runs[$t]} inputs from seed 1"
  else
    echo "== $t: ${seconds} s"
  fi
  # -rss_limit_mb: a header that makes us allocate by its claim is a finding, not a swap storm.
  if ! ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
      "${budget[@]}" -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$out/" \
      -print_final_stats=1 "$corpus/$t" 2>"$out/log.txt"; then
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
