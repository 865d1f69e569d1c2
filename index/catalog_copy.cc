// Copying a catalog between its two forms (a directory, a PostgreSQL database), checked by counts
// and a checksum that does not depend on the form or on row ids.
#include <algorithm>
#include <cstring>
#include <map>

#include "catalog.h"
#include "usage_log.h"

namespace imprint {

namespace {

void put(std::vector<uint8_t>* out, std::string_view s) {
  const uint64_t n = s.size();
  const auto* p = reinterpret_cast<const uint8_t*>(&n);
  out->insert(out->end(), p, p + 8);
  out->insert(out->end(), s.begin(), s.end());
}

void put(std::vector<uint8_t>* out, int64_t v) { put(out, std::to_string(v)); }

std::vector<uint8_t> work_bytes(const Work& w) {
  std::vector<uint8_t> b;
  put(&b, w.id);
  put(&b, w.title);
  put(&b, w.owner);
  put(&b, w.media);
  put(&b, w.source);
  put(&b, w.registered_at_ms);
  put(&b, w.sha256 ? to_hex(*w.sha256) : std::string());
  put(&b, int64_t(w.width));
  put(&b, int64_t(w.height));
  put(&b, w.licence.to_json());
  put(&b, int64_t(w.metadata.size()));
  for (const auto& [key, value] : w.metadata) {  // in key order
    put(&b, key);
    put(&b, value);
  }
  return b;
}

void put_fingerprint(std::vector<uint8_t>* b, const WorkFingerprint& f) {
  put(b, f.kind);
  put(b, int64_t(f.quality));
  put(b, f.t_ms);
  put(b, std::string_view(reinterpret_cast<const char*>(f.data.data()), f.data.size()));
}

Result<std::unique_ptr<Catalog>> open_for_copy(const std::string& where, bool read_only) {
  CatalogOptions o;
  o.dir = where;
  o.read_only = read_only;
  o.second_stage = false;  // the copy reads and writes rows; matching is not needed
  o.follow_interval_ms = 3'600'000;
  return Catalog::open(o);
}

}  // namespace

Result<std::string> catalog_checksum(const Catalog& c, int64_t* works, int64_t* fingerprints) {
  // Each work's fingerprints are stored together, so they arrive one work after another.
  std::map<int64_t, Sha256> fp_digest;  // work pk -> digest of its fingerprints in order
  int64_t current = -1;
  std::vector<uint8_t> buf;
  *fingerprints = 0;
  auto close_work = [&] {
    if (current >= 0) fp_digest[current] = sha256_of(buf);
    buf.clear();
  };
  Status s =
      c.list_fingerprints(std::vector<std::string>{}, [&](const Work& w, const WorkFingerprint& f) {
        if (w.pk != current) {
          close_work();
          current = w.pk;
        }
        put_fingerprint(&buf, f);
        ++*fingerprints;
        return true;
      });
  IMPRINT_RETURN_IF_ERROR(s);
  close_work();
  std::vector<std::pair<std::string, Sha256>> by_id;
  IMPRINT_RETURN_IF_ERROR(c.list_works({}, [&](const Work& w) {
    std::vector<uint8_t> b = work_bytes(w);
    auto it = fp_digest.find(w.pk);
    const Sha256 fps = it == fp_digest.end() ? Sha256{} : it->second;
    b.insert(b.end(), fps.begin(), fps.end());
    by_id.emplace_back(w.id, sha256_of(b));
    return true;
  }));
  std::sort(by_id.begin(), by_id.end());
  std::vector<uint8_t> all;
  for (const auto& [id, d] : by_id) all.insert(all.end(), d.begin(), d.end());
  *works = int64_t(by_id.size());
  return to_hex(sha256_of(all));
}

Result<CatalogCopyReport> copy_catalog(const std::string& src, const std::string& dst) {
  Result<std::unique_ptr<Catalog>> from = open_for_copy(src, true);
  if (!from.ok()) return from.status().with_context("source");
  Result<std::unique_ptr<Catalog>> to = open_for_copy(dst, false);
  if (!to.ok()) return to.status().with_context("destination");
  Result<CatalogStats> dst_stats = (*to)->stats();
  if (!dst_stats.ok()) return dst_stats.status();
  if (dst_stats->works != 0) {
    return failed_precondition("destination " + display_location(dst) + " already has " +
                               std::to_string(dst_stats->works) + " works; copy into an empty one");
  }
  // Works with their fingerprints, in registration order, committed a batch at a time.
  constexpr size_t kBatch = 256;
  std::vector<WorkInput> batch;
  Status failed;
  auto flush = [&] {
    for (const Result<Work>& r : (*to)->register_works(batch)) {
      if (!r.ok() && failed.ok()) failed = r.status();
    }
    batch.clear();
  };
  int64_t current = -1;
  Status s = (*from)->list_fingerprints(std::vector<std::string>{},
                                        [&](const Work& w, const WorkFingerprint& f) {
                                          if (w.pk != current) {
                                            if (batch.size() >= kBatch) flush();
                                            current = w.pk;
                                            WorkInput in;
                                            in.work = w;
                                            in.keep_registered_at = true;
                                            batch.push_back(std::move(in));
                                          }
                                          batch.back().fingerprints.push_back(f);
                                          return failed.ok();
                                        });
  IMPRINT_RETURN_IF_ERROR(s);
  flush();
  IMPRINT_RETURN_IF_ERROR(failed);
  // Works with no fingerprint at all did not come up above.
  IMPRINT_RETURN_IF_ERROR((*from)->list_works({}, [&](const Work& w) {
    if ((*to)->get_work(w.id).ok()) return true;
    WorkInput in;
    in.work = w;
    in.keep_registered_at = true;
    batch.push_back(std::move(in));
    if (batch.size() >= kBatch) flush();
    return failed.ok();
  }));
  flush();
  IMPRINT_RETURN_IF_ERROR(failed);
  IMPRINT_RETURN_IF_ERROR((*to)->save_index());

  CatalogCopyReport report;
  // Usage events, oldest first, when the source has any.
  Result<std::unique_ptr<UsageLog>> usage_from = UsageLog::open(src, true);
  if (usage_from.ok()) {
    Result<std::unique_ptr<UsageLog>> usage_to = UsageLog::open(dst, false);
    if (!usage_to.ok()) return usage_to.status().with_context("destination usage");
    std::vector<UsageEvent> events;
    auto record = [&] {
      Status r = (*usage_to)->record(events);
      if (!r.ok() && failed.ok()) failed = r;
      events.clear();
    };
    IMPRINT_RETURN_IF_ERROR((*usage_from)->list({}, [&](const UsageEvent& e) {
      events.push_back(e);
      ++report.usage_events;
      if (events.size() >= 4096) record();
      return failed.ok();
    }));
    record();
    IMPRINT_RETURN_IF_ERROR(failed);
    (*usage_to)->flush();
    Result<std::unique_ptr<UsageLog>> usage_check = UsageLog::open(dst, true);
    if (!usage_check.ok()) return usage_check.status().with_context("destination usage");
    int64_t copied = 0;
    IMPRINT_RETURN_IF_ERROR(
        (*usage_check)->list({}, [&](const UsageEvent&) { return ++copied > 0; }));
    if (copied != report.usage_events) {
      return corruption("copy check failed: " + std::to_string(report.usage_events) +
                        " usage events in the source, " + std::to_string(copied) + " copied");
    }
  }

  // The check: both sides read back independently.
  int64_t src_works = 0, src_fps = 0, dst_works = 0, dst_fps = 0;
  Result<std::string> a = catalog_checksum(**from, &src_works, &src_fps);
  if (!a.ok()) return a.status();
  Result<std::string> b = catalog_checksum(**to, &dst_works, &dst_fps);
  if (!b.ok()) return b.status();
  if (src_works != dst_works || src_fps != dst_fps || *a != *b) {
    return corruption("copy check failed: source " + std::to_string(src_works) + " works, " +
                      std::to_string(src_fps) + " fingerprints, checksum " + *a + "; destination " +
                      std::to_string(dst_works) + " works, " + std::to_string(dst_fps) +
                      " fingerprints, checksum " + *b);
  }
  report.works = dst_works;
  report.fingerprints = dst_fps;
  report.checksum = *a;
  return report;
}

}  // namespace imprint
