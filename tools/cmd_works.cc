// imprint works list|show|remove, and imprint stats.
#include <iostream>

#include "catalog_args.h"
#include "commands.h"
#include "hash_list.h"
#include "match_json.h"
#include "registration.h"

namespace imprint::cli {

void add_works_command(CLI::App& app, int& exit_code) {
  CLI::App* works = app.add_subcommand("works", "List, show or remove registered works");
  works->require_subcommand(1);

  struct ListArgs {
    CatalogArgs catalog;
    std::string owner;
    int64_t limit = -1;
    bool json = false;
  };
  auto la = std::make_shared<ListArgs>();
  CLI::App* list = works->add_subcommand("list", "List works in registration order");
  add_catalog_option(list, la->catalog);
  list->add_option("--owner", la->owner, "Only this owner's works");
  list->add_option("--limit", la->limit, "At most this many");
  list->add_flag("--json", la->json, "One JSON object per work");
  list->callback([la, &exit_code] {
    auto c = open_catalog(la->catalog, true, "works list");
    if (!c) {
      exit_code = 2;
      return;
    }
    Status s = c->list_works({la->owner, la->limit}, [&](const Work& w) {
      if (la->json) {
        std::cout << work_to_json(w).dump() << '\n';
      } else {
        std::cout << w.id << '\t' << w.owner << '\t' << w.title << '\t' << iso8601_utc(w.registered_at_ms)
                  << '\t' << w.licence.summary() << '\n';
      }
      return true;
    });
    if (!s.ok()) {
      std::cerr << "imprint works list: " << s.message() << '\n';
      exit_code = 1;
    }
  });

  struct OneArgs {
    CatalogArgs catalog;
    std::vector<std::string> ids;
  };
  auto sa = std::make_shared<OneArgs>();
  CLI::App* show = works->add_subcommand("show", "Show works as JSON");
  add_catalog_option(show, sa->catalog);
  show->add_option("ids", sa->ids, "Work ids")->required();
  show->callback([sa, &exit_code] {
    auto c = open_catalog(sa->catalog, true, "works show");
    if (!c) {
      exit_code = 2;
      return;
    }
    for (const std::string& id : sa->ids) {
      Result<Work> w = c->get_work(id);
      if (!w.ok()) {
        std::cerr << "imprint works show: " << w.status().message() << '\n';
        exit_code = 1;
        continue;
      }
      nlohmann::json j = work_to_json(*w);
      // Works imported from a hash list show the fields their row carried (tags, timestamp...).
      Result<std::vector<WorkFingerprint>> list = c->work_fingerprints(id, kListEntryKind);
      if (list.ok() && !list->empty()) {
        const std::vector<uint8_t>& data = list->front().data;
        nlohmann::json fields = nlohmann::json::parse(data.begin(), data.end(), nullptr, false);
        if (fields.is_object()) j["list"] = std::move(fields);
      }
      std::cout << j.dump(2) << '\n';
    }
  });

  auto ra = std::make_shared<OneArgs>();
  CLI::App* remove = works->add_subcommand("remove", "Remove works (from matching at once, durably)");
  add_catalog_option(remove, ra->catalog);
  remove->add_option("ids", ra->ids, "Work ids")->required();
  remove->callback([ra, &exit_code] {
    auto c = open_catalog(ra->catalog, false, "works remove");
    if (!c) {
      exit_code = 2;
      return;
    }
    for (const std::string& id : ra->ids) {
      Status s = c->remove_work(id);
      if (!s.ok()) {
        std::cerr << "imprint works remove: " << s.message() << '\n';
        exit_code = 1;
        continue;
      }
      std::cout << nlohmann::json{{"removed", id}}.dump() << '\n';
    }
  });
}

void add_stats_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<CatalogArgs>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("stats", "Catalog totals, per owner and media, and the index");
  add_catalog_option(cmd, *a);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([a, json, &exit_code] {
    auto c = open_catalog(*a, true, "stats");
    if (!c) {
      exit_code = 2;
      return;
    }
    Result<CatalogStats> s = c->stats();
    if (!s.ok()) {
      std::cerr << "imprint stats: " << s.status().message() << '\n';
      exit_code = 1;
      return;
    }
    const nlohmann::json j = catalog_stats_to_json(*c, *s);
    std::cout << j.dump(*json ? -1 : 2) << '\n';
  });
}

// imprint catalog copy SRC DST: between the directory and PostgreSQL forms, checked.
void add_catalog_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("catalog", "Catalog maintenance");
  cmd->require_subcommand(1);
  auto src = std::make_shared<std::string>(), dst = std::make_shared<std::string>();
  CLI::App* copy = cmd->add_subcommand(
      "copy",
      "Copy every work, fingerprint and usage event into an empty catalog (a directory or a "
      "postgresql:// URI, either way), then check both by counts and checksum");
  copy->add_option("SRC", *src, "Source catalog")->required();
  copy->add_option("DST", *dst, "Destination catalog (empty or new)")->required();
  copy->callback([src, dst, &exit_code] {
    Result<CatalogCopyReport> r = copy_catalog(*src, *dst);
    if (!r.ok()) {
      std::cerr << "imprint catalog copy: " << r.status().message() << '\n';
      exit_code = 1;
      return;
    }
    std::cout << nlohmann::json{{"source", display_location(*src)},
                                {"destination", display_location(*dst)},
                                {"works", r->works},
                                {"fingerprints", r->fingerprints},
                                {"usage_events", r->usage_events},
                                {"checksum", r->checksum},
                                {"checked", true}}
                     .dump()
              << '\n';
  });
}

}  // namespace imprint::cli
