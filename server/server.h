// imprint::server::Server: the catalog over the network.
//
// One process serves a gRPC API (server/proto/imprint/v1/imprint.proto: CatalogService,
// MatchService, standard health checking and reflection) and an HTTP side: /metrics (Prometheus),
// a JSON mirror of MatchImage (/api/v1/match), and a page where creators check their images
// (/ and /api/v1/check). Both use the same Catalog as the command line.
//
// Access: with a key file, every gRPC call and /api/v1/match need a key whose role allows them
// (api_keys.h); without one the server refuses to listen beyond loopback. Limits (message size,
// decoded pixels, per-call deadline, concurrent calls, stream length, idle streams) answer with
// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED and friends, never by falling over. shutdown() stops
// taking calls and lets those in flight finish (up to a deadline).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "catalog.h"
#include "usage_log.h"

namespace imprint::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";     // gRPC; port 0 picks a free port
  std::string http_listen = "127.0.0.1:8080";  // empty: no HTTP side; port 0 picks a free port
  // PEM files, both or neither: TLS for gRPC and HTTPS for the HTTP side.
  std::string tls_cert, tls_key;
  // Beyond loopback without TLS, keys and uploads would travel in clear: refused unless set
  // (a TLS-terminating proxy in front, say).
  bool insecure = false;
  // HTTP Host names served besides localhost and IP literals; any other Host (or none) is
  // answered 421. A page on a name the attacker points at this server (DNS rebinding) so
  // reaches nothing, loopback or not. Exact names, matched without case ("imprint.example.org").
  std::vector<std::string> allowed_hosts;
  std::string keys_file;                       // empty: no authentication, loopback only
  int max_message_bytes = 32 << 20;            // a 32 MB upload covers any real photo
  int64_t max_pixels = 50'000'000;             // decoded size refused beyond (bomb guard)
  int call_deadline_ms = 10'000;               // server-side cap on one call's work
  int max_concurrent_calls = 64;               // beyond: RESOURCE_EXHAUSTED ("busy")
  // Calls a second each key may make on average (0: no limit), in bursts of up to
  // rate_limit_burst (0: one second's worth, at least 1); without a key file, each client
  // address (an IPv6 client by its /64). A MatchStream message counts as a call. Over it:
  // RESOURCE_EXHAUSTED with `retry-after` seconds (gRPC trailing metadata), HTTP 429 with
  // Retry-After.
  double rate_limit = 0;
  double rate_limit_burst = 0;
  // The creators' page (POST /api/v1/check and its thumbnail links), open to anyone: calls a
  // second per client address, in bursts of up to public_rate_limit_burst (0: no limit). A person
  // checking pictures by hand stays far below it; a script pointed at the page does not.
  double public_rate_limit = 2;
  double public_rate_limit_burst = 20;
  int64_t max_stream_messages = 10'000'000;    // per MatchStream
  double max_video_seconds = 600;              // MatchVideo hashes this much; longer is partial
  // MatchVideo hashes at most this many frames, and fewer when max_video_seconds at the call's
  // seconds_per_hash needs fewer (twice that, for rates that do not divide evenly): a tiny
  // seconds_per_hash on a stream claiming thousands of frames a second is refused with
  // RESOURCE_EXHAUSTED past it instead of hashing every frame. 18,000 is 600 s at 30 fps.
  int64_t max_video_frames = 18'000;
  int stream_idle_timeout_ms = 60'000;         // a silent stream is cancelled after this
  bool record_usage = true;                    // usage events for flag/allow decisions
  // A replica of a PostgreSQL catalog is ready (/readyz 200, gRPC health SERVING) while its last
  // catch-up with the database succeeded within this many milliseconds; a directory catalog is
  // always ready.
  int64_t ready_max_lag_ms = 2000;
  bool public_page = true;                     // serve the creators' page without a key
  HashMode hash_mode = HashMode::kExact;
  // One JSON line per call (no image bytes, no keys). Default: standard error.
  std::function<void(const std::string&)> access_log;
};

class Server {
 public:
  // Starts serving; returns once both listeners are bound.
  static Result<std::unique_ptr<Server>> start(Catalog& catalog, UsageLog* usage,
                                               const ServerOptions& options);
  ~Server();

  // Stops accepting calls, waits up to `drain` for calls in flight, then cancels the rest.
  void shutdown(std::chrono::milliseconds drain);

  // Reads the key file again and serves with its keys from the next call on: a removed line's
  // key is refused, a new line's accepted. A file that does not load leaves the old keys
  // (and says why). `imprint serve` calls it on SIGHUP.
  Status reload_keys();

  int grpc_port() const;
  int http_port() const;
  // What the server says at start: addresses, authentication, limits.
  std::string banner() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imprint::server
