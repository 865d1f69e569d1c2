// Admission, authentication, metrics and access logging around every call; status mapping.
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "server_impl.h"

namespace imprint::server {

grpc::StatusCode grpc_code(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kCorruption: return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kIOError: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kUnsupported: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kInternal: return grpc::StatusCode::INTERNAL;
    case StatusCode::kCancelled: return grpc::StatusCode::CANCELLED;
  }
  return grpc::StatusCode::UNKNOWN;
}

const char* grpc_code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    default: return "UNKNOWN";
  }
}

grpc::Status to_grpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(grpc_code(s.code()), s.message());
}

std::string request_id_or_new(std::string_view sent) {
  const bool usable =
      !sent.empty() && sent.size() <= kMaxRequestIdBytes &&
      std::all_of(sent.begin(), sent.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (usable) return std::string(sent);
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // Ids tell calls apart in logs, they guard nothing: a weaker source will do.
    thread_local std::mt19937_64 gen{std::random_device{}()};
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(gen());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string role_refusal(const Caller& who, const std::string& call, Role need) {
  return "key '" + who.name + "' has role " + role_name(who.role) + "; " + call + " needs " +
         role_name(need);
}

// gRPC's synchronous server does not catch what a handler throws: a bug must cost one call, not
// the process.
static grpc::Status guarded(const std::function<grpc::Status(const Caller&)>& fn, const Caller& caller) {
  try {
    return fn(caller);
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what());
  }
}

grpc::Status CallGate::run(grpc::ServerContext* ctx, const char* method, Role need,
                           const std::function<grpc::Status(const Caller&)>& fn) {
  const auto& md = ctx->client_metadata();
  const auto text = [](const grpc::string_ref& r) { return std::string(r.data(), r.size()); };
  CallInfo call;
  call.method = method;
  call.call = method;
  call.need = need;
  if (const auto it = md.find("authorization"); it != md.end())
    call.authorization = text(it->second);
  call.missing_credentials = "missing 'authorization: Bearer <key>' metadata";
  const auto sent_id = md.find("x-request-id");
  call.request_id = request_id_or_new(
      sent_id == md.end() ? std::string_view()
                          : std::string_view(sent_id->second.data(), sent_id->second.size()));
  call.peer = ctx->peer();
  // Initial metadata, sent before any response message: a stream's caller has it at once.
  ctx->AddInitialMetadata("x-request-id", call.request_id);
  const GateResult r = run(call, fn);
  if (r.refusal == Refusal::kRateLimited) {
    ctx->AddTrailingMetadata("retry-after", std::to_string(r.retry_after_s));
  }
  return r.status;
}

GateResult CallGate::run(const CallInfo& call,
                         const std::function<grpc::Status(const Caller&)>& fn) {
  const auto start = std::chrono::steady_clock::now();
  Caller caller{"anonymous", Role::kAdmin, {}, {}};
  GateResult result;
  CallSlot slot(server_);
  bool may_run = false;  // admitted, authenticated and authorised: charged, then run
  if (!slot.admitted()) {
    result.status =
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "server busy: " + std::to_string(server_.options.max_concurrent_calls) +
                         " calls in flight; retry with backoff");
    result.refusal = Refusal::kBusy;
    result.retry_after_s = 1;
  } else if (call.open_to_all) {
    caller.name = "public";
    caller.role = Role::kMatcher;
    may_run = true;
  } else if (server_.keys) {
    Result<Caller> who = call.authorization ? server_.keys->authenticate(*call.authorization)
                                            : Result<Caller>(not_found(call.missing_credentials));
    if (!who.ok()) {
      result.status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, who.status().message());
    } else if (!role_allows(who->role, call.need)) {
      caller = *who;
      result.status = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                   role_refusal(*who, call.call, call.need));
    } else {
      caller = *who;
      may_run = true;
    }
  } else {
    may_run = true;  // without a key file every caller is anonymous, limited by address
  }
  caller.request_id = call.request_id;
  if (may_run) {
    result.status = call.open_to_all ? server_.charge_public(call.peer, &result.retry_after_s)
                                     : server_.charge(caller, call.peer, &result.retry_after_s);
    if (!result.status.ok()) {
      result.refusal = Refusal::kRateLimited;
    } else {
      result.status = guarded(fn, caller);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const char* code = grpc_code_name(result.status.error_code());
  server_.metrics.record_call(call.method, code, seconds);
  nlohmann::json line = {
      {"method", call.method}, {"code", code},      {"ms", std::round(seconds * 1e5) / 100},
      {"caller", caller.name}, {"peer", call.peer}, {"request_id", call.request_id}};
  if (!result.status.ok()) line["error"] = result.status.error_message();
  server_.log_access(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return result;
}

void StreamWatch::touch(grpc::ServerContext* ctx) {
  std::lock_guard<std::mutex> lk(mu_);
  last_[ctx] = std::chrono::steady_clock::now();
}

void StreamWatch::forget(grpc::ServerContext* ctx) {
  std::lock_guard<std::mutex> lk(mu_);
  last_.erase(ctx);
}

int StreamWatch::cancel_idle(std::chrono::milliseconds idle) {
  std::lock_guard<std::mutex> lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  int n = 0;
  for (auto& [ctx, t] : last_) {
    if (now - t > idle) {
      ctx->TryCancel();
      t = now;  // once is enough; the handler forgets it on its way out
      ++n;
    }
  }
  return n;
}

void Server::Impl::log_access(const std::string& line) {
  if (options.access_log) {
    options.access_log(line);
  } else {
    static std::mutex mu;
    std::lock_guard<std::mutex> lk(mu);
    std::cerr << line << '\n';
  }
}

// The refusal of a call over a limit of `per_second`, for `who`.
static grpc::Status over_limit(double wait, double per_second, const std::string& who,
                               int64_t* retry_after_s) {
  *retry_after_s = std::max<int64_t>(1, int64_t(std::ceil(wait)));
  std::ostringstream limit;
  limit << per_second;
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      who + " is over its rate limit of " + limit.str() +
                          " calls a second; retry after " + std::to_string(*retry_after_s) + " s");
}

grpc::Status Server::Impl::charge(const Caller& caller, std::string_view peer,
                                  int64_t* retry_after_s) {
  *retry_after_s = 0;
  if (!rate.enabled()) return grpc::Status::OK;
  // Keys and addresses share the table; the prefixes keep a key named like an address apart.
  const std::string bucket = keys ? "key " + caller.name : "address " + client_address(peer);
  const double wait = rate.acquire(bucket);
  if (wait <= 0) return grpc::Status::OK;
  return over_limit(wait, options.rate_limit,
                    keys ? "key '" + caller.name + "'" : "address " + client_address(peer),
                    retry_after_s);
}

grpc::Status Server::Impl::charge_public(std::string_view peer, int64_t* retry_after_s) {
  *retry_after_s = 0;
  if (!public_rate.enabled()) return grpc::Status::OK;
  const double wait = public_rate.acquire(client_address(peer));
  if (wait <= 0) return grpc::Status::OK;
  return over_limit(wait, options.public_rate_limit, "address " + client_address(peer),
                    retry_after_s);
}

grpc::Status Server::Impl::within_deadline(std::chrono::steady_clock::time_point start) const {
  if (std::chrono::steady_clock::now() - start <=
      std::chrono::milliseconds(options.call_deadline_ms)) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      "the call took longer than the server's limit of " +
                          std::to_string(options.call_deadline_ms) + " ms");
}

void Server::Impl::update_gauges() {
  Result<CatalogStats> s = catalog.stats();
  if (s.ok()) {
    metrics.set_gauge("imprint_catalog_works", "Registered works.", double(s->works));
    metrics.set_gauge("imprint_catalog_index_entries", "PDQ hashes in the match index.",
                      double(s->index_entries));
  }
  metrics.set_gauge("imprint_calls_in_flight", "Calls being served.", in_flight.load());
}

}  // namespace imprint::server
