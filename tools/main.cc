// imprint: find copies of registered creative works. See README.md.
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include "commands.h"
#include "engine.h"

int main(int argc, char** argv) {
  // Hashing, scanning and serving decode one file after another: reuse the freed buffers.
  imprint::retain_freed_memory();
  // Our own pools decide parallelism; OpenCV's internal threads would oversubscribe them.
  cv::setNumThreads(1);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);

  CLI::App app{"imprint: fingerprint images and find copies of registered works"};
  app.require_subcommand(1);
  int exit_code = 0;
  imprint::cli::add_hash_command(app, exit_code);
  imprint::cli::add_compare_command(app, exit_code);
  imprint::cli::add_register_command(app, exit_code);
  imprint::cli::add_query_command(app, exit_code);
  imprint::cli::add_works_command(app, exit_code);
  imprint::cli::add_stats_command(app, exit_code);
  imprint::cli::add_catalog_command(app, exit_code);
  imprint::cli::add_hashes_commands(app, exit_code);
  imprint::cli::add_serve_command(app, exit_code);
  imprint::cli::add_usage_command(app, exit_code);
  imprint::cli::add_client_command(app, exit_code);
  imprint::cli::add_scan_command(app, exit_code);
  imprint::cli::add_report_command(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
