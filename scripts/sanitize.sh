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
# the picture-region search (tables indexed by line pairs, on collages and block grids), the
# second stage (second_stage_test: the query's features extracted by the matcher from its pixels,
# the integer edge sums of the region search, voting, geometric and photometric verification,
# the feature index file), and the scanner as a library (scan_unit_test: tar members read from
# hostile shards, the journal, whole scans with their reader, worker and writer threads, in
# process).
# Left out for time (the whole test command must stay under 30 minutes on 2 cores): the suites
# that run the imprint binary (cli_hash_test, cli_catalog_test, hash_lists_test: 2-7 minutes each
# under ASan, and the binary needs the server and the CLI built a third time), pdq_reference_test
# (the same PDQ code as pdq_test, on 80 more images), the video and scan suites.
ASAN_SUITES=(pdq_test decode_test decode_state_test hostile_input_test licence_test catalog_test
             picture_regions_test second_stage_test scan_unit_test)
# TSan: the catalog's concurrency test (matchers, registrar, lister and usage writer at once) and
# the rest of catalog_test; the scanner's pipeline threads and queues, in whole scans run in
# process (scan_unit_test); and of server_test (about two minutes on 2 cores) the call gate under
# load and its busy refusal on both fronts, silent and stalled streams, shutdown with calls in
# flight, corrupt uploads between valid ones from several callers, in-order streams, retries
# counted once, the HTTP front's slots, chunked bodies, hosts, routes, errors and answers, TLS and
# its start and stop, keys, roles and registrar scopes, rate limits, usage records, thumbnails and
# request ids, and the rate limiter's own cases. Left out: the video cases (they hash for minutes
# under TSan, past their calls' 20 s deadlines, which is what their failures there were:
# DEADLINE_EXCEEDED where UNAUTHENTICATED or a server-side limit was expected), the deadline case
# (StreamsEndAtTheirMessageLimitAndCallsAtTheirDeadline, timed), the registration burst (its
# memory bound depends on the allocator, TSan's here) and CancelledMatchRecordsNoUsage (18 s
# here, over 10 minutes under TSan).
TSAN_SUITES=(catalog_test server_test scan_unit_test)
TSAN_SERVER_CASES=(ConcurrentCallsAreBoundedAndTheRefusalSaysServerBusy
                   SilentStreamsAreCancelledAndGiveTheirSlotsBack ShutdownDrainsCallsInFlight
                   CorruptUploadsNeverSpoilLaterValidOnesFromOtherCallers
                   StalledListWorksDoesNotHoldUpOtherCalls
                   MatchHashAndStreamAnswerInOrderWithPerMessageErrors
                   RegisterWorksStreamAnswersEachWorkInOrder RetriedCallsCountOnceAndListingsComeInPages
                   HttpMatchRefusesBadParametersAndGivesItsSlotBack
                   ChunkedBodyOverTheLimitIsRefusedAsItArrives MatchImageDecidesByLicenceAndRecordsUsage
                   HttpMetricsJsonMatchAndCreatorCheck RequestIdsAreEchoedOrMadeAndLogged
                   KeysAndRolesGuardEveryCall ThumbnailsOnlyForWorksJustShownNeverFromTheSourcePath
                   OneGateRefusesABusyServerOnBothFronts PublicAddressWithoutTlsNeedsInsecure
                   HttpServesHttpsWithTheTlsCertificate KeyOverItsRateLimitIsToldWhenToRetry
                   CreatorsPageIsRateLimitedPerClientAddress RegistrarKeyReachesOnlyItsOwnersWorks
                   HttpCatalogRoutesRegisterGetListAndRemoveAsGrpcDoes
                   HttpErrorsAreJsonWithCodeMessageAndField
                   HttpTakesRawBodiesWhateverTheirContentType HttpAnswersFitTheServedOpenApiDocument
                   HttpProtoFormatIsTheGrpcAnswerInProtobufsJsonMapping
                   EveryFieldIsCheckedBeforeWorkAndNamedWithItsLimit HttpAnswersOnlyHostsItServes
                   LimitsAnswerWithClearCodes)

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
  local server_cases servers='^(ServerTest|RateLimiter|ServerRateLimit|ServerStart)\.'
  server_cases="^ServerTest\.($(IFS='|'; echo "${TSAN_SERVER_CASES[*]}"))\$"
  export TSAN_OPTIONS="second_deadlock_stack=1:suppressions=$root/scripts/sanitizers/tsan.supp"
  ctest --test-dir build-tsan --output-on-failure --timeout 900 -j "$jobs" -E "$servers"
  # Every named case must exist: a renamed test would otherwise drop out of the job unseen.
  local found
  found="$(ctest --test-dir build-tsan -N -R "$server_cases" | grep -c 'Test *#' || true)"
  if [ "$found" != "${#TSAN_SERVER_CASES[@]}" ]; then
    echo "sanitize.sh: ${#TSAN_SERVER_CASES[@]} server cases named, $found found" >&2
    exit 1
  fi
  # The named server cases, and every case of the rate limiter's own suites.
  ctest --test-dir build-tsan --output-on-failure --timeout 900 -j "$jobs" \
    -R "$server_cases|^(RateLimiter|ServerRateLimit|ServerStart)\\."
}

[ $# -gt 0 ] || set -- asan tsan
for job in "$@"; do
  case "$job" in
    asan) run_asan ;;
    tsan) run_tsan ;;
    *) echo "usage: scripts/sanitize.sh [asan|tsan]..." >&2; exit 2 ;;
  esac
done
