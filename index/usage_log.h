// UsageLog: records of what matching decided, for rights holders to bill or send takedowns from.
//
// Every match the server decides (flag or allow) and every finding of `imprint query --record`
// becomes a usage event in the catalog's database (table usage_events): work, decision, purpose,
// caller (an API key's name, never the key), time, the query's content digest and the caller's
// reference for the upload. Events name works by external id, so records outlive a removed work.
//
// Writes cost the match path one append and one fdatasync: record() writes its events to its
// journal beside the database (usage-<random>.journal, one write(2)), syncs it (concurrent
// callers share one fdatasync) and returns; a background writer moves them into SQLite in
// batches, committed with synchronous=FULL, and empties the journal once they are committed. An
// event record() acknowledged is on disk, so it survives a killed process and a power cut: the
// next open() replays the journal (events carry unique ids, so replaying twice inserts once).
// A journal is locked (flock) before it takes its name, and open() replays only journals no
// process holds, so a second process never replays, removes or truncates a live one.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine.h"
#include "licence.h"

namespace imprint {

struct UsageEvent {
  std::string work_id;
  std::string owner;
  MatchDecision decision = MatchDecision::kFlag;
  Purpose purpose = Purpose::kAnyUse;
  std::string caller;
  int64_t time_ms = 0;
  std::string query_sha256;  // hex, empty when unknown (a hash-only query)
  std::string reference;
  int distance = 0;
  // Unique per event. Empty in record(): the log makes a fresh one. Set (usage_event_id(), from
  // an idempotency key): recording an id that is already stored inserts nothing, so a retried
  // call is one use.
  std::string event_id;
  std::string request_id;  // the call's x-request-id, empty when none (the CLI)
  // Set by list(): where this event stands in the listing, to continue after it
  // (UsageFilter::after).
  std::string cursor;
};

struct UsageFilter {
  std::string work_id;  // empty: all
  std::string owner;    // empty: all
  int64_t since_ms = 0;           // events at or after this time
  int64_t until_ms = 0;           // and before this one (0: no end)
  std::optional<MatchDecision> decision;  // unset: flag and allow
  bool newest_first = false;
  // An event's cursor from an earlier list() with the same order: the listing continues after
  // that event. Events are ordered by time and then by the order they were stored, so a listing
  // resumed while events are being recorded sees those stored after its cursor's time.
  std::string after;
  int64_t limit = -1;
};

struct UsageTotal {
  std::string owner;
  std::string work_id;
  std::string decision;
  int64_t count = 0;
};

struct UsageLogOptions {
  // The writer commits this long after the first event of a batch (or at once for a full batch
  // or a flush()). Each commit costs an fsync and the journal's truncation while the events are
  // already safe in the journal, so committing per event would only spend CPU the match path
  // needs (tests/server_test and grpc_load's usage on/off rows measure it). Tests make it long
  // to kill a process while its events are in the journal only.
  std::chrono::milliseconds commit_delay{200};
  // How record() makes the journal durable before it returns: fdatasync(fd) when unset. Tests
  // give their own to see that it runs before the acknowledgement, or to make it fail.
  std::function<int(int fd)> sync_journal;
};

class UsageLog {
 public:
  // Opens the usage records of the catalog in `catalog_dir` (creating the table when writable).
  // A PostgreSQL catalog (a postgresql:// URI) keeps them in its database and has no journal:
  // record() returns once its events are committed there, from whichever replica.
  static Result<std::unique_ptr<UsageLog>> open(const std::string& catalog_dir, bool read_only,
                                                const UsageLogOptions& options = {});
  ~UsageLog();

  // Returns once the events are in the journal (see above).
  Status record(std::span<const UsageEvent> events);
  // Waits until every recorded event is in the database (for readers in the same process), or
  // until an attempt to commit them failed: a failed batch is kept and retried, never dropped.
  void flush();
  // Oldest first, or newest first (UsageFilter). kInvalidArgument for a malformed cursor.
  Status list(const UsageFilter& filter, const std::function<bool(const UsageEvent&)>& fn) const;
  Result<std::vector<UsageTotal>> totals() const;

  class Impl;

 private:
  static Result<std::unique_ptr<UsageLog>> open_postgres(std::unique_ptr<Impl> impl,
                                                         const std::string& uri);
  explicit UsageLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What the events of one query share: who asked, for what, when, and about which upload.
struct UsageContext {
  Purpose purpose = Purpose::kAnyUse;
  std::string caller;
  int64_t time_ms = 0;
  std::string query_sha256;  // hex, empty when unknown
  std::string reference;
  std::string request_id;
  // Non-empty: the events' ids are derived from it (usage_event_id), so the same key from the
  // same caller records each work's use once however often the call is retried.
  std::string idempotency_key;
};

// The fields of a UsageContext that come from a clock and a digest: now, and the hex digest or ""
// when the digest is unknown (all zero).
int64_t usage_time_now_ms();
std::string usage_digest_hex(const Sha256& digest);

// The id of the event an idempotency key names: one per (caller, key, work), so a retry or a
// replica's duplicate of the same call inserts nothing twice. Empty when the key is empty.
std::string usage_event_id(const std::string& caller, const std::string& idempotency_key,
                           const std::string& work_id);

// Appends one event per match whose decision was acted on (flag or allow; review and none are not
// records). Match is Candidate (catalog.h) or VideoCandidate (video_match.h): anything with work,
// decision and distance.
template <class Match>
void append_usage_events(std::span<const Match> matches, const UsageContext& ctx,
                         std::vector<UsageEvent>* out) {
  for (const Match& c : matches) {
    if (c.decision != MatchDecision::kFlag && c.decision != MatchDecision::kAllow) continue;
    out->push_back({c.work.id, c.work.owner, c.decision, ctx.purpose, ctx.caller, ctx.time_ms,
                    ctx.query_sha256, ctx.reference, c.distance,
                    usage_event_id(ctx.caller, ctx.idempotency_key, c.work.id), ctx.request_id,
                    ""});
  }
}

// "2026-11-23", "2026-11-23T10:00:00Z" (or with milliseconds) -> ms since the epoch.
Result<int64_t> parse_time(const std::string& text);

}  // namespace imprint
