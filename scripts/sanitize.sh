#!/usr/bin/env bash
# The sanitizer job of the test command (scripts/test.sh runs it after the main suite):
#   build-asan: AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover=undefined)
#   build-tsan: ThreadSanitizer
# Each builds the engine, index (and where a suite needs them, server and CLI) libraries with the
# sanitizer, then only the suites named below, and runs them with ctest. A report fails the run.
# Third-party reports that are not ours to fix are suppressed in scripts/sanitizers/, each with
# its reason. Usage: scripts/sanitize.sh [asan|tsan]... (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

# ASan+UBSan: the engine and index libraries under the suites that feed them bytes from outside
# (decoders on garbage, hostile files and text, corrupt input interleaved with valid input on one
# thread and on several), the PDQ arithmetic, licences, the catalog (storage, matching, usage), and
# the picture-region search (tables indexed by line pairs, on collages and block grids).
# Left out for time (the whole test command must stay under 30 minutes on 2 cores): the suites
# that run the imprint binary (cli_hash_test, cli_catalog_test, hash_lists_test: 2-7 minutes each
# under ASan, and the binary needs the server and the CLI built a third time), pdq_reference_test
# (the same PDQ code as pdq_test, on 80 more images), video, scan and second-stage suites.
ASAN_SUITES=(pdq_test decode_test decode_state_test hostile_input_test licence_test catalog_test
             picture_regions_test)
# TSan: the catalog's concurrency test (matchers, registrar, lister and usage writer at once) and
# the rest of catalog_test. server_test is left out for now: under TSan it ran 20 minutes on 2
# cores (its gRPC side is uninstrumented Debian code, suppressed anyway) and two of its tests
# failed there (a memory bound under TSan's allocator, and a field check answering 4 where 3 was
# expected, not yet looked into); both are open in issue 26.
TSAN_SUITES=(catalog_test)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs="$(nproc)"

build() {  # build <dir> <sanitizers> <suite>...
  local dir="$1" san="$2"
  shift 2
  local list
  list="$(IFS=';'; echo "$*")"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DIMPRINT_SANITIZE="$san" -DIMPRINT_TEST_SUITES="$list" >/dev/null
  ninja -C "$dir" -j "$jobs" "$@"
}

run_asan() {
  build build-asan address,undefined "${ASAN_SUITES[@]}"
  # detect_leaks: a leak is a failure too; the suppressions name third-party leaks only.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1" \
  LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/sanitizers/ubsan.supp" \
    ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$jobs"
}

run_tsan() {
  build build-tsan thread "${TSAN_SUITES[@]}"
  TSAN_OPTIONS="second_deadlock_stack=1:suppressions=$root/scripts/sanitizers/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure --timeout 900 -j "$jobs"
}

[ $# -gt 0 ] || set -- asan tsan
for job in "$@"; do
  case "$job" in
    asan) run_asan ;;
    tsan) run_tsan ;;
    *) echo "usage: scripts/sanitize.sh [asan|tsan]..." >&2; exit 2 ;;
  esac
done
