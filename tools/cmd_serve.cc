// imprint serve: the catalog over gRPC and HTTP; imprint keys add: create API keys.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <iostream>

#include "api_keys.h"
#include "catalog_args.h"
#include "commands.h"
#include "server.h"

namespace imprint::cli {
namespace {

struct ServeArgs {
  CatalogArgs catalog;
  server::ServerOptions options;
  std::string mode = "exact";
  int drain_ms = 10'000;
  int usage_commit_ms = 200;  // UsageLogOptions::commit_delay
};

int run_serve(ServeArgs& a) {
  Result<HashMode> mode = parse_hash_mode(a.mode);
  if (!mode.ok()) {
    std::cerr << "imprint serve: " << mode.status().message() << '\n';
    return 2;
  }
  a.options.hash_mode = *mode;
  // SIGTERM, SIGINT and SIGHUP are taken by sigwait below, so they must be blocked in every
  // thread, which inherit this mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!a.catalog.snapshot_dir.empty() && !is_postgres_location(a.catalog.dir)) {
    std::cerr << "imprint serve: --replica-snapshot is for PostgreSQL catalogs (a directory "
                 "catalog keeps its index files in itself)\n";
    return 2;
  }
  std::unique_ptr<Catalog> catalog = open_catalog(a.catalog, false, "serve");
  if (!catalog) return 2;
  if (!a.catalog.snapshot_dir.empty()) {
    std::cerr << "imprint serve: replica snapshot in " << a.catalog.snapshot_dir << ": "
              << catalog->snapshot_origin() << std::endl;
  }
  std::unique_ptr<UsageLog> usage;
  if (a.options.record_usage) {
    UsageLogOptions uo;
    uo.commit_delay = std::chrono::milliseconds(a.usage_commit_ms);
    Result<std::unique_ptr<UsageLog>> u = UsageLog::open(a.catalog.dir, false, uo);
    if (!u.ok()) {
      std::cerr << "imprint serve: " << u.status().message() << '\n';
      return 2;
    }
    usage = std::move(*u);
  }
  Result<std::unique_ptr<server::Server>> srv = server::Server::start(*catalog, usage.get(), a.options);
  if (!srv.ok()) {
    std::cerr << "imprint serve: " << srv.status().message() << '\n';
    return 2;
  }
  std::cerr << (*srv)->banner() << std::endl;
  int sig = 0;
  // SIGHUP reloads the key file: a key removed from it is refused from the next call on.
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    const Status reloaded = (*srv)->reload_keys();
    std::cerr << "imprint serve: SIGHUP: "
              << (reloaded.ok() ? "keys reloaded from " + a.options.keys_file
                                : reloaded.message())
              << std::endl;
  }
  std::cerr << "imprint serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining calls in flight (up to "
            << a.drain_ms << " ms)" << std::endl;
  (*srv)->shutdown(std::chrono::milliseconds(a.drain_ms));
  srv->reset();
  usage.reset();
  Status saved = catalog->save_index();
  if (!saved.ok()) std::cerr << "imprint serve: " << saved.message() << '\n';
  std::cerr << "imprint serve: stopped cleanly" << std::endl;
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  server::ServerOptions& o = a->options;
  CLI::App* cmd = app.add_subcommand("serve", "Serve the catalog over gRPC and HTTP");
  add_catalog_option(cmd, a->catalog);
  cmd->add_option("--listen", o.listen, "gRPC address HOST:PORT")->capture_default_str();
  cmd->add_option("--http", o.http_listen, "HTTP address HOST:PORT for /metrics, the page and JSON ('' for none)")
      ->capture_default_str();
  cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate for gRPC TLS and HTTPS");
  cmd->add_option("--tls-key", o.tls_key, "PEM private key for gRPC TLS and HTTPS");
  cmd->add_flag("--insecure", o.insecure,
                "Listen beyond loopback without TLS (keys and uploads in clear; behind a TLS proxy)");
  cmd->add_option("--allowed-host", o.allowed_hosts,
                  "An HTTP Host name to serve besides localhost and IP addresses (repeat for "
                  "several); others are refused (DNS rebinding)");
  cmd->add_option("--keys", o.keys_file, "API key file (imprint keys add); without it, loopback only");
  cmd->add_option("--max-message-bytes", o.max_message_bytes, "Largest request")->capture_default_str();
  cmd->add_option(
         "--ready-max-lag-ms", o.ready_max_lag_ms,
         "PostgreSQL catalog: unready (/readyz 503, gRPC health NOT_SERVING) when the last "
         "catch-up with the database is older than this")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(100), int64_t(3'600'000)));
  cmd->add_option("--replica-snapshot", a->catalog.snapshot_dir,
                  "PostgreSQL catalog: a local directory for this replica's index snapshot, "
                  "loaded at start (then caught up) and rewritten as the catalog changes");
  cmd->add_option("--replica-snapshot-interval", a->catalog.snapshot_interval_s,
                  "Seconds between snapshot writes, +-25%")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));
  cmd->add_flag("--no-second-stage{false}", a->catalog.second_stage,
                "PDQ and identical bytes only: no crops, screenshots or collages found, an upload "
                "that matches nothing costs what a copy does, and no feature index in memory");
  cmd->add_option("--max-pixels", o.max_pixels, "Largest decoded image")->capture_default_str();
  cmd->add_option("--call-deadline-ms", o.call_deadline_ms, "Longest one call may work")->capture_default_str();
  cmd->add_option("--max-concurrent-calls", o.max_concurrent_calls, "Calls served at once")->capture_default_str();
  cmd->add_option("--rate-limit", o.rate_limit,
                  "Calls a second each API key may make, or without --keys each client address "
                  "(0: no limit); over it: RESOURCE_EXHAUSTED / HTTP 429 with retry-after")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--rate-burst", o.rate_limit_burst,
                  "Calls a key may make at once before --rate-limit applies (0: one second's worth)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--public-rate-limit", o.public_rate_limit,
                  "Calls a second each client address may make to the creators' page (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option(
         "--public-rate-burst", o.public_rate_limit_burst,
         "Calls an address may make to the page at once before --public-rate-limit applies")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-stream-messages", o.max_stream_messages, "Messages per MatchStream")->capture_default_str();
  cmd->add_option("--max-video-seconds", o.max_video_seconds,
                  "MatchVideo hashes this many seconds of an upload; longer ones are answered partial")
      ->capture_default_str();
  cmd->add_option("--max-video-frames", o.max_video_frames,
                  "MatchVideo hashes at most this many frames of an upload; more is refused")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stream-idle-ms", o.stream_idle_timeout_ms, "Cancel streams silent this long")->capture_default_str();
  cmd->add_option("--mode", a->mode, "Hash mode for image bytes: exact or fast")->capture_default_str();
  cmd->add_option("--drain-ms", a->drain_ms, "On SIGTERM, wait this long for calls in flight")->capture_default_str();
  cmd->add_flag("!--no-usage", o.record_usage, "Do not record usage events");
  cmd->add_option("--usage-commit-ms", a->usage_commit_ms,
                  "Usage events wait in the journal this long to be committed in one batch")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("!--no-page", o.public_page, "Do not serve the creators' page");
  cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });

  struct KeyArgs {
    std::string file, name, role = "matcher";
    std::vector<std::string> owners;
  };
  auto k = std::make_shared<KeyArgs>();
  CLI::App* keys = app.add_subcommand("keys", "Manage API keys for imprint serve");
  keys->require_subcommand(1);
  CLI::App* add = keys->add_subcommand("add", "Create a key, print it once, store its hash");
  add->add_option("--keys", k->file, "Key file")->required();
  add->add_option("--name", k->name, "Who holds the key (appears in logs and usage records)")->required();
  add->add_option("--role", k->role, "admin, registrar or matcher")->capture_default_str();
  add->add_option("--owner", k->owners,
                  "An owner a registrar key acts for (repeat for several; default: the key's name)");
  add->callback([k, &exit_code] {
    Result<server::Role> role = server::parse_role(k->role);
    if (!role.ok() || k->name.find_first_of(" \t\n") != std::string::npos) {
      std::cerr << "imprint keys add: " << (role.ok() ? "names may not contain spaces" : role.status().message()) << '\n';
      exit_code = 2;
      return;
    }
    for (const std::string& o : k->owners) {
      if (o.empty() || o.find_first_of(",\n") != std::string::npos) {
        std::cerr << "imprint keys add: owner names may not be empty or contain commas\n";
        exit_code = 2;
        return;
      }
    }
    const std::string key = server::ApiKeys::generate_key();
    const std::string line = server::ApiKeys::line_for(k->name, *role, key, k->owners) + "\n";
    // The file says who may do what: only its owner reads it, whatever the umask, and a file
    // made readable before is closed up too.
    const int fd = ::open(k->file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                    ::write(fd, line.data(), line.size()) == ssize_t(line.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
      std::cerr << "imprint keys add: cannot write " << k->file << ": " << std::strerror(errno) << '\n';
      exit_code = 1;
      return;
    }
    std::cout << key << '\n';
  });
}

}  // namespace imprint::cli
