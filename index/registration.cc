#include "registration.h"

#include <filesystem>

#include "match_json.h"
#include "usage_log.h"

namespace imprint {
namespace fs = std::filesystem;

void name_work_after_file(const std::string& path, Work* work) {
  const fs::path p(path);
  work->id = p.stem().string();
  work->title = p.stem().string();
  std::error_code ec;
  const fs::path abs = fs::absolute(p, ec);
  work->source = ec ? p.string() : abs.lexically_normal().string();
}

Result<WorkInput> image_work_input_from_file(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = read_file(path, DecodeOptions{}.max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  Result<WorkInput> in = work_input_from_image(*bytes);
  if (!in.ok()) return in.status().with_context(path);
  name_work_after_file(path, &in->work);
  return in;
}

nlohmann::json registration_to_json(const Work& registered, const WorkInput& input) {
  nlohmann::json j = work_to_json(registered);
  if (input.fingerprints.empty()) return j;
  if (registered.media == "video") {
    const std::vector<uint8_t>& info = input.fingerprints.back().data;
    const nlohmann::json vi = nlohmann::json::parse(info.begin(), info.end(), nullptr, false);
    for (const char* key : {"frames", "duration", "fps", "seconds_per_hash", "partial"}) {
      if (vi.is_object() && vi.contains(key)) j[key] = vi[key];
    }
  } else {
    const WorkFingerprint& f = input.fingerprints.front();
    j["pdq"] = PdqHash::from_bytes(f.data.data()).to_hex();
    j["quality"] = f.quality;
  }
  return j;
}

nlohmann::json catalog_stats_to_json(const Catalog& c, const CatalogStats& s) {
  nlohmann::json owners = nlohmann::json::object(), media = nlohmann::json::object();
  for (const auto& [k, v] : s.works_by_owner) owners[k.empty() ? "(none)" : k] = v;
  for (const auto& [k, v] : s.works_by_media) media[k] = v;
  nlohmann::json j = {{"catalog", display_location(c.dir())},
                      {"catalog_id", s.catalog_id},
                      {"works", s.works},
                      {"fingerprints", s.fingerprints},
                      {"generation", s.generation},
                      {"index",
                       {{"kind", s.index_kind},
                        {"entries", s.index_entries},
                        {"memory_bytes", s.index_memory_bytes},
                        {"origin", c.index_origin()}}},
                      {"second_stage",
                       {{"works", s.feature_works},
                        {"features", s.features},
                        {"memory_bytes", s.feature_memory_bytes},
                        {"origin", c.feature_index_origin()}}},
                      {"works_by_owner", owners},
                      {"works_by_media", media}};
  Result<std::unique_ptr<UsageLog>> usage = UsageLog::open(c.dir(), true);
  nlohmann::json usage_totals = nlohmann::json::object();
  if (usage.ok()) {
    Result<std::vector<UsageTotal>> totals = (*usage)->totals();
    if (totals.ok()) {
      for (const UsageTotal& t : *totals) {
        usage_totals[t.owner.empty() ? "(none)" : t.owner][t.work_id][t.decision] = t.count;
      }
    }
  }
  j["usage_by_owner"] = usage_totals;
  return j;
}

}  // namespace imprint
