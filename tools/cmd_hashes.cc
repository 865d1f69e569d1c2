// imprint import-hashes / export-hashes: PDQ lists in the forms the hash-sharing ecosystem uses.
//
// Import reads, one per line (blank lines and # comments skipped):
//   HASH                      the bare list (id: "<list name>:<line number>")
//   HASH,ID    HASH,QUALITY,ID   the reference tool's hash,quality,path output and similar lists
//   pdq HASH                  python-threatexchange's local signal files ("signal_type signal")
//   a CSV with a header row naming a hash column (hash, pdq, signal, signal_value or
//   indicator) and optionally id, quality, signal_type; rows of other signal types are skipped.
// Export writes `hash,quality,id` (default) or `pdq hash` lines (--format threatexchange).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "catalog_args.h"
#include "commands.h"

namespace imprint::cli {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      out.push_back(cell);
      cell.clear();
    } else {
      cell += c;
    }
  }
  out.push_back(cell);
  for (std::string& s : out) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct Parsed {
  PdqHash hash;
  int quality = 100;
  std::string id;
};

// Parses one list file; bad lines are reported and skipped.
std::vector<Parsed> parse_list(const std::string& path, int* bad) {
  std::ifstream f(path);
  std::vector<Parsed> out;
  const std::string stem = std::filesystem::path(path).stem().string();
  int hash_col = -1, id_col = -1, quality_col = -1, type_col = -1;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Parsed p;
    p.id = stem + ":" + std::to_string(n);
    std::string hex;
    if (line.rfind("pdq ", 0) == 0) {
      hex = line.substr(4);
    } else {
      const std::vector<std::string> cells = split_csv(line);
      if (n == 1 || (hash_col < 0 && !PdqHash::from_hex(cells[0]).ok())) {
        // A header row?
        for (int i = 0; i < int(cells.size()); ++i) {
          const std::string c = lower(cells[i]);
          if (c == "hash" || c == "pdq" || c == "signal" || c == "signal_value" || c == "indicator") hash_col = i;
          if (c == "id" || c == "content_id" || c == "path" || c == "name") id_col = i;
          if (c == "quality") quality_col = i;
          if (c == "signal_type" || c == "type") type_col = i;
        }
        if (hash_col >= 0) continue;
      }
      if (hash_col >= 0) {
        if (type_col >= 0 && type_col < int(cells.size()) && lower(cells[type_col]) != "pdq" &&
            lower(cells[type_col]) != "hash_pdq") {
          continue;
        }
        hex = hash_col < int(cells.size()) ? cells[hash_col] : "";
        if (id_col >= 0 && id_col < int(cells.size()) && !cells[id_col].empty()) p.id = cells[id_col];
        if (quality_col >= 0 && quality_col < int(cells.size())) p.quality = std::atoi(cells[quality_col].c_str());
      } else {
        hex = cells[0];
        if (cells.size() == 2) p.id = cells[1];
        if (cells.size() >= 3) {
          p.quality = std::atoi(cells[1].c_str());
          p.id = cells[2];
        }
      }
    }
    Result<PdqHash> h = PdqHash::from_hex(hex);
    if (!h.ok() || p.quality < 0 || p.quality > 100) {
      ++*bad;
      std::cerr << "imprint import-hashes: " << path << ":" << n << ": "
                << (h.ok() ? "quality must be 0..100" : h.status().message()) << '\n';
      continue;
    }
    p.hash = *h;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

void add_hashes_commands(CLI::App& app, int& exit_code) {
  struct ImportArgs {
    CatalogArgs catalog;
    LicenceArgs licence;
    std::vector<std::string> files;
    std::string owner;
    bool replace = false;
  };
  auto ia = std::make_shared<ImportArgs>();
  CLI::App* imp = app.add_subcommand("import-hashes", "Register works from PDQ hash lists");
  add_catalog_option(imp, ia->catalog);
  add_licence_options(imp, ia->licence);
  imp->add_option("files", ia->files, "Hash list files")->required()->check(CLI::ExistingFile);
  imp->add_option("--owner", ia->owner, "Rights holder of the imported works");
  imp->add_flag("--replace", ia->replace, "Replace works whose id is already registered");
  imp->callback([ia, &exit_code] {
    Result<LicencePolicy> policy = licence_from_args(ia->licence);
    if (!policy.ok()) {
      std::cerr << "imprint import-hashes: " << policy.status().message() << '\n';
      exit_code = 2;
      return;
    }
    auto c = open_catalog(ia->catalog, false, "import-hashes");
    if (!c) {
      exit_code = 2;
      return;
    }
    int bad = 0, imported = 0;
    for (const std::string& file : ia->files) {
      const std::vector<Parsed> rows = parse_list(file, &bad);
      for (size_t start = 0; start < rows.size(); start += 10000) {
        std::vector<WorkInput> inputs;
        for (size_t i = start; i < std::min(rows.size(), start + 10000); ++i) {
          WorkInput in;
          in.work.id = rows[i].id;
          in.work.title = rows[i].id;
          in.work.owner = ia->owner;
          in.work.source = file;
          in.work.licence = *policy;
          in.fingerprints.push_back(WorkFingerprint::pdq(rows[i].hash, rows[i].quality));
          inputs.push_back(std::move(in));
        }
        const auto done = c->register_works(inputs, ia->replace);
        for (size_t k = 0; k < done.size(); ++k) {
          if (done[k].ok()) {
            ++imported;
          } else {
            ++bad;
            std::cerr << "imprint import-hashes: " << inputs[k].work.id << ": " << done[k].status().message() << '\n';
          }
        }
      }
    }
    std::cout << nlohmann::json{{"imported", imported}, {"failed", bad}}.dump() << '\n';
    exit_code = bad > 0 ? 1 : 0;
  });

  struct ExportArgs {
    CatalogArgs catalog;
    std::string format = "plain";
  };
  auto ea = std::make_shared<ExportArgs>();
  CLI::App* exp = app.add_subcommand("export-hashes", "Write the catalog's PDQ hashes as a list");
  add_catalog_option(exp, ea->catalog);
  exp->add_option("--format", ea->format, "plain (hash,quality,id) or threatexchange (pdq hash)")
      ->capture_default_str()
      ->check(CLI::IsMember({"plain", "threatexchange"}));
  exp->callback([ea, &exit_code] {
    auto c = open_catalog(ea->catalog, true, "export-hashes");
    if (!c) {
      exit_code = 2;
      return;
    }
    Status s = c->list_fingerprints("pdq", [&](const Work& w, const WorkFingerprint& f) {
      if (f.data.size() != 32) return true;
      const std::string hex = PdqHash::from_bytes(f.data.data()).to_hex();
      if (ea->format == "plain") {
        std::cout << hex << ',' << f.quality << ',' << w.id << '\n';
      } else {
        std::cout << "pdq " << hex << '\n';
      }
      return true;
    });
    if (!s.ok()) {
      std::cerr << "imprint export-hashes: " << s.message() << '\n';
      exit_code = 1;
    }
  });
}

}  // namespace imprint::cli
