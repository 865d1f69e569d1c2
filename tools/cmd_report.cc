// imprint report: combine shard reports of a scan, or rebuild a report's summary and HTML.
#include <iostream>

#include "commands.h"
#include "scan_report.h"

namespace imprint::cli {

void add_report_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("report", "Work with scan reports");
  cmd->require_subcommand(1);

  struct MergeArgs {
    std::string out;
    std::vector<std::string> inputs;
  };
  auto m = std::make_shared<MergeArgs>();
  CLI::App* merge = cmd->add_subcommand(
      "merge", "Combine the reports of `imprint scan --shard I/N` copies into one report");
  merge->footer(
      "Exit status: 0 merged and every shard of the scan is present and complete; 1 merged, "
      "but shards are missing or incomplete (the report says so); 2 nothing merged.");
  merge->add_option("out", m->out, "New report directory")->required();
  merge->add_option("inputs", m->inputs, "Shard report directories")->required();
  merge->callback([m, &exit_code] {
    bool complete = false;
    const Status s = merge_reports(m->out, m->inputs, &complete);
    if (!s.ok()) {
      std::cerr << "imprint report merge: " << s.message() << '\n';
      exit_code = 2;
      return;
    }
    if (!complete) {
      std::cerr << "imprint report merge: warning: the merged report is incomplete (missing or "
                   "unfinished shards); see "
                << m->out << "/summary.json\n";
    }
    std::cerr << "imprint report merge: wrote " << m->out << "/report.html\n";
    exit_code = complete ? 0 : 1;
  });

  auto dir = std::make_shared<std::string>();
  CLI::App* html = cmd->add_subcommand("html", "Rebuild summary.json and report.html of a report");
  html->add_option("dir", *dir, "Report directory")->required();
  html->callback([dir, &exit_code] {
    Result<nlohmann::json> s = finish_report(*dir);
    if (!s.ok()) {
      std::cerr << "imprint report html: " << s.status().message() << '\n';
      exit_code = 2;
      return;
    }
    std::cerr << "imprint report html: wrote " << *dir << "/report.html\n";
  });
}

}  // namespace imprint::cli
