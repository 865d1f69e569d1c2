// imprint usage: list and export the usage records rights holders bill and send takedowns from.
#include <iostream>
#include <nlohmann/json.hpp>

#include "catalog_args.h"
#include "commands.h"
#include "match_json.h"
#include "usage_log.h"

namespace imprint::cli {
namespace {

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void add_usage_command(CLI::App& app, int& exit_code) {
  struct Args {
    CatalogArgs catalog;
    UsageFilter filter;
    std::string since, until, decision;
    bool json = false, csv = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("usage", "List usage records (matches the server or query --record decided)");
  add_catalog_option(cmd, a->catalog);
  cmd->add_option("--work", a->filter.work_id, "Only this work");
  cmd->add_option("--owner", a->filter.owner, "Only this owner's works");
  cmd->add_option("--since", a->since, "From this time (YYYY-MM-DD or RFC 3339)");
  cmd->add_option("--until", a->until, "Before this time (YYYY-MM-DD or RFC 3339)");
  cmd->add_option("--decision", a->decision, "Only flag or only allow events")
      ->check(CLI::IsMember({"flag", "allow"}));
  cmd->add_flag("--newest-first", a->filter.newest_first, "Newest events first");
  cmd->add_option("--after", a->filter.after,
                  "Continue after the event with this cursor (--json gives each event's)");
  cmd->add_option("--limit", a->filter.limit, "At most this many");
  cmd->add_flag("--json", a->json, "One JSON object per event");
  cmd->add_flag("--csv", a->csv, "CSV with a header row");
  cmd->callback([a, &exit_code] {
    for (auto [text, out] : {std::pair{&a->since, &a->filter.since_ms},
                             std::pair{&a->until, &a->filter.until_ms}}) {
      if (text->empty()) continue;
      Result<int64_t> t = parse_time(*text);
      if (!t.ok()) {
        std::cerr << "imprint usage: " << t.status().message() << '\n';
        exit_code = 2;
        return;
      }
      *out = *t;
    }
    if (!a->decision.empty()) {
      a->filter.decision = a->decision == "allow" ? MatchDecision::kAllow : MatchDecision::kFlag;
    }
    if (a->catalog.dir.empty()) {
      std::cerr << "imprint usage: no catalog directory given (--catalog or IMPRINT_CATALOG)\n";
      exit_code = 2;
      return;
    }
    Result<std::unique_ptr<UsageLog>> log = UsageLog::open(a->catalog.dir, true);
    if (!log.ok()) {
      std::cerr << "imprint usage: " << log.status().message() << '\n';
      exit_code = 2;
      return;
    }
    if (a->csv) {
      std::cout << "time,work_id,owner,decision,purpose,caller,distance,query_sha256,reference,"
                   "event_id,request_id\n";
    }
    Status s = (*log)->list(a->filter, [&](const UsageEvent& e) {
      if (a->json) {
        std::cout << nlohmann::json{{"time", iso8601_utc(e.time_ms)}, {"work_id", e.work_id}, {"owner", e.owner},
                                    {"decision", decision_name(e.decision)}, {"purpose", purpose_name(e.purpose)},
                                    {"caller", e.caller}, {"distance", e.distance},
                                    {"query_sha256", e.query_sha256}, {"reference", e.reference},
                                    {"event_id", e.event_id}, {"request_id", e.request_id},
                                    {"cursor", e.cursor}}
                         .dump()
                  << '\n';
      } else if (a->csv) {
        std::cout << iso8601_utc(e.time_ms) << ',' << csv_cell(e.work_id) << ',' << csv_cell(e.owner) << ','
                  << decision_name(e.decision) << ',' << purpose_name(e.purpose) << ',' << csv_cell(e.caller)
                  << ',' << e.distance << ',' << e.query_sha256 << ',' << csv_cell(e.reference) << ','
                  << csv_cell(e.event_id) << ',' << csv_cell(e.request_id) << '\n';
      } else {
        std::cout << iso8601_utc(e.time_ms) << "  " << decision_name(e.decision) << "  " << e.work_id << " ("
                  << e.owner << ")  " << purpose_name(e.purpose) << " by " << e.caller
                  << (e.reference.empty() ? "" : "  ref " + e.reference) << '\n';
      }
      return true;
    });
    if (!s.ok()) {
      std::cerr << "imprint usage: " << s.message() << '\n';
      exit_code = 1;
    }
  });
}

}  // namespace imprint::cli
