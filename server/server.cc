// Server life cycle: validation, listeners, the idle-stream watchdog, draining shutdown.
#include "server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server_impl.h"

namespace imprint::server {
namespace {

bool is_loopback(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
}

// Whether PEM texts hold a certificate and the private key that goes with it: checked once for
// both sides, so a wrong file is named at start, not by a failed handshake later.
bool is_certificate_and_key(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), int(cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(key_pem.data(), int(key_pem.size()));
  X509* cert = cb ? PEM_read_bio_X509(cb, nullptr, nullptr, nullptr) : nullptr;
  EVP_PKEY* key = kb ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr) : nullptr;
  const bool ok = cert && key && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(kb);
  BIO_free(cb);
  return ok;
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Server>> Server::start(Catalog& catalog, UsageLog* usage,
                                              const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(catalog, usage, options);
  Impl& s = *impl;
  if (!options.keys_file.empty()) {
    Result<ApiKeys> keys = ApiKeys::load(options.keys_file);
    if (!keys.ok()) return keys.status();
    s.keys.set(std::move(*keys));
  } else {
    for (const std::string& addr : {options.listen, options.http_listen}) {
      if (!addr.empty() && !is_loopback(addr)) {
        return failed_precondition("refusing to listen on " + addr +
                                   " without --keys: anyone could register and remove works. "
                                   "Give a key file, or listen on 127.0.0.1");
      }
    }
  }
  if (options.tls_cert.empty() && !options.insecure) {
    for (const std::string& addr : {options.listen, options.http_listen}) {
      if (!addr.empty() && !is_loopback(addr)) {
        return failed_precondition(
            "refusing to listen on " + addr +
            " without TLS: API keys and uploads would travel in clear. Give --tls-cert and "
            "--tls-key, listen on 127.0.0.1, or pass --insecure (behind a TLS proxy)");
      }
    }
  }
  if (!(options.rate_limit >= 0) || !(options.rate_limit_burst >= 0) ||
      !std::isfinite(options.rate_limit) || !std::isfinite(options.rate_limit_burst) ||
      !(options.public_rate_limit >= 0) || !(options.public_rate_limit_burst >= 0) ||
      !std::isfinite(options.public_rate_limit) ||
      !std::isfinite(options.public_rate_limit_burst)) {
    return invalid_argument(
        "--rate-limit, --rate-burst, --public-rate-limit and --public-rate-burst must be 0 (none) "
        "or above");
  }
  if (options.max_video_frames <= 0 || !(options.max_video_seconds > 0)) {
    return invalid_argument("--max-video-frames and --max-video-seconds must be above 0");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return invalid_argument("--tls-cert and --tls-key go together");
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty()) {
    Result<std::string> cert = read_text(options.tls_cert), key = read_text(options.tls_key);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    if (!is_certificate_and_key(*cert, *key)) {
      return invalid_argument("--tls-cert " + options.tls_cert + " and --tls-key " +
                              options.tls_key + " are not a PEM certificate and its private key");
    }
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  s.catalog_service = make_catalog_service(s);
  s.match_service = make_match_service(s);
  s.reflection_v1_service = make_reflection_v1_service(s);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &s.grpc_port);
  builder.RegisterService(s.catalog_service.get());
  builder.RegisterService(s.match_service.get());
  builder.RegisterService(s.reflection_v1_service.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Synchronous handlers need a thread each; the quota bounds them (beyond: RESOURCE_EXHAUSTED).
  grpc::ResourceQuota quota("imprint");
  quota.SetMaxThreads(options.max_concurrent_calls + 16);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, std::max(8, options.max_concurrent_calls));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  s.grpc_server = builder.BuildAndStart();
  if (!s.grpc_server || s.grpc_port == 0) return io_error("cannot listen for gRPC on " + options.listen);
  s.update_readiness();
  Status http = start_http(s);
  if (!http.ok()) {
    s.grpc_server->Shutdown();
    return http;
  }
  s.update_gauges();
  Impl* raw = impl.get();
  s.watchdog = std::thread([raw] {
    int tick = 0;
    while (!raw->stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      raw->streams.cancel_idle(std::chrono::milliseconds(raw->options.stream_idle_timeout_ms));
      raw->update_readiness();
      if (++tick % 25 == 0) raw->update_gauges();
    }
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Impl::update_readiness() {
  const int now = ready() ? 1 : 0;
  const int before = serving.exchange(now);
  if (before == now) return;
  auto* health = grpc_server ? grpc_server->GetHealthCheckService() : nullptr;
  if (!health) return;
  // The overall service ("") and each of ours: a load balancer probing either sees the same.
  health->SetServingStatus(now == 1);
  health->SetServingStatus("imprint.v1.MatchService", now == 1);
  health->SetServingStatus("imprint.v1.CatalogService", now == 1);
  if (before == -1) return;  // the start: the banner says it
  log_access(nlohmann::json({{"event", now == 1 ? "ready" : "not ready"},
                             {"generation", catalog.follow_state().generation},
                             {"error", catalog.follow_state().error}})
                 .dump());
}

void Server::shutdown(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (auto* health = s.grpc_server ? s.grpc_server->GetHealthCheckService() : nullptr) {
    health->Shutdown();
  }
  if (s.grpc_server) s.grpc_server->Shutdown(std::chrono::system_clock::now() + drain);
  if (s.http) s.http->stop();
  if (s.http_thread.joinable()) s.http_thread.join();
  if (s.watchdog.joinable()) s.watchdog.join();
  if (s.grpc_server) s.grpc_server->Wait();
}

Status Server::reload_keys() {
  Impl& s = *impl_;
  if (!s.keys) return failed_precondition("no key file to reload (the server runs without --keys)");
  Result<ApiKeys> keys = ApiKeys::load(s.options.keys_file);
  if (!keys.ok()) return keys.status().with_context("keys not reloaded, the old ones stay");
  const size_t n = keys->size();
  s.keys.set(std::move(*keys));
  s.log_access(nlohmann::json({{"event", "keys reloaded"}, {"file", s.options.keys_file},
                               {"keys", n}})
                   .dump());
  return Status::Ok();
}

int Server::grpc_port() const { return impl_->grpc_port; }
int Server::http_port() const { return impl_->http_port; }

std::string Server::banner() const {
  const Impl& s = *impl_;
  const ServerOptions& o = s.options;
  std::ostringstream b;
  const std::string host = o.listen.substr(0, o.listen.rfind(':'));
  b << "imprint serve: gRPC on " << host << ":" << s.grpc_port << (o.tls_cert.empty() ? " (plaintext)" : " (TLS)");
  if (s.http_port) {
    b << ", HTTP on " << o.http_listen.substr(0, o.http_listen.rfind(':')) << ":" << s.http_port
      << (o.tls_cert.empty() ? " (plaintext" : " (HTTPS") << ", /metrics"
      << (o.public_page ? ", creators' page at /" : "") << ")";
  }
  b << "\n";
  if (s.keys) {
    b << "  authentication: " << s.keys->size() << " API key(s) from " << o.keys_file << "\n";
  } else {
    b << "  authentication: none (no --keys); listening on loopback only\n";
  }
  b << "  limits: messages " << (o.max_message_bytes >> 20) << " MiB, images " << o.max_pixels / 1'000'000
    << " MP, " << o.call_deadline_ms << " ms per call, " << o.max_concurrent_calls << " calls at once, streams idle "
    << o.stream_idle_timeout_ms / 1000 << " s / " << o.max_stream_messages << " messages\n";
  if (o.rate_limit > 0) {
    b << "  rate limit: " << o.rate_limit << " calls a second per "
      << (s.keys ? "key" : "client address") << "\n";
  }
  if (o.public_page && o.public_rate_limit > 0) {
    b << "  creators' page: " << o.public_rate_limit << " calls a second per client address\n";
  }
  b << "  usage records: " << (s.usage && o.record_usage ? "on" : "off") << "; hash mode: " << hash_mode_name(o.hash_mode);
  return b.str();
}

}  // namespace imprint::server
