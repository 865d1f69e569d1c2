// The HTTP side: /metrics, the creators' page and its /api/v1/check, the JSON mirror of
// MatchImage and MatchVideo (/api/v1/match: the body's signature picks), the catalog calls
// (/api/v1/works: register, get, list, remove; /api/v1/usage), work thumbnails (stored previews
// only), /healthz.
//
// Every error answers a JSON body {"code", "message", "field"?} with the HTTP status of its code
// (answer_error), and every answer carries the request's X-Request-Id (the caller's or a new one).
// The handlers are functions of a parsed request (http_front.h), so a fuzzer can call them too.
#include "http_front.h"

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "creator_page.h"
#include "match_json.h"
#include "openapi.h"
#include "request_checks.h"
#include "server_impl.h"
#include "text.h"

namespace imprint::server {
namespace {

// A request header's whole value ("" when absent). httplib 0.11.4 URL-decodes header values and
// its get_header_value() gives them back through a C string, so "%00" ends the value there:
// "Host: 127.0.0.1%00.attacker.example" read that way is "127.0.0.1". Checks read it whole.
std::string header_of(const httplib::Request& req, const char* name) {
  const auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string() : it->second;
}

// The HTTP status of a gRPC code, as Google's APIs map them, but for RESOURCE_EXHAUSTED: 413
// here (a body over the limit, a bomb), 429 where a key is over its rate limit.
int http_status(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::FAILED_PRECONDITION: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS: return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 413;
    case grpc::StatusCode::CANCELLED: return 499;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

grpc::Status invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// The request field an INVALID_ARGUMENT names: its message starts "field: ..." (request_checks.h),
// "licence.commercial.licensees: ..." included. Empty when it names none.
std::string field_of(const std::string& message) {
  const size_t colon = message.find(": ");
  if (colon == 0 || colon == std::string::npos) return "";
  const bool is_field = std::all_of(message.begin(), message.begin() + colon, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
  return is_field ? message.substr(0, colon) : "";
}

// The gRPC code name an HTTP error status stands for, for errors httplib answers itself (an
// unknown path, a malformed request) and so have no status of ours.
const char* code_for_http_status(int status) {
  switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 413: return "RESOURCE_EXHAUSTED";
    case 429: return "RESOURCE_EXHAUSTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status < 500 ? "INVALID_ARGUMENT" : "INTERNAL";
  }
}

// The image of a request: the raw body (any Content-Type but a form), or the first part of a
// multipart form. Read as it arrives and refused past `max_bytes`, whatever the framing:
// cpp-httplib 0.11.4 (Debian 12) checks its payload limit against Content-Length only, and
// buffered a chunked, length-less or compressed body whole before any handler saw it. Counted
// after decompression, so a small gzip bomb is refused too.
grpc::Status read_image(const httplib::Request& req, const httplib::ContentReader& reader, size_t max_bytes,
                        std::string* out) {
  const auto too_big = [&] {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "request body over the limit of " + std::to_string(max_bytes) + " bytes");
  };
  if (req.has_header("Content-Length")) {
    const std::string text = header_of(req, "Content-Length");
    uint64_t length = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (ec != std::errc() || end != text.data() + text.size()) return invalid("Content-Length: not a number");
    if (length > max_bytes) return too_big();
  }
  size_t seen = 0;
  bool over = false;
  const auto take = [&](const char* data, size_t n, bool keep) {
    seen += n;
    if (seen > max_bytes) {
      over = true;
      return false;  // stops the read: the rest of the body is never taken in
    }
    if (keep) out->append(data, n);
    return true;
  };
  bool ok = false;
  if (req.is_multipart_form_data()) {
    int part = 0;
    ok = reader([&](const httplib::MultipartFormData&) { return ++part > 0; },
                [&](const char* data, size_t n) { return take(data, n, part == 1); });
  } else {
    ok = reader([&](const char* data, size_t n) { return take(data, n, true); });
  }
  if (over) return too_big();
  if (!ok) return invalid("the request body could not be read");
  return grpc::Status::OK;
}

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

// JSON out: text that came from a file or a catalog built by a scan is not trusted to be UTF-8,
// and a throw here would lose the answer.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// /api/v1/match's query parameters as a MatchContext, checked as MatchImage checks its own.
grpc::Status match_context_from_params(const httplib::Request& req, v1::MatchContext* ctx, std::string* name) {
  if (req.has_param("purpose")) {
    const std::string text = req.get_param_value("purpose");
    Result<Purpose> p = parse_purpose(text);
    if (!p.ok()) {
      return invalid("purpose: unknown '" + utf8_prefix(text, 64) + "' (expected ai-training, commercial or any-use)");
    }
    ctx->set_purpose(*p == Purpose::kAiTraining ? v1::AI_TRAINING
                     : *p == Purpose::kCommercial ? v1::COMMERCIAL : v1::ANY_USE);
  } else {
    ctx->set_purpose(v1::ANY_USE);
  }
  ctx->set_licensee(req.get_param_value("licensee"));
  ctx->set_reference(req.get_param_value("reference"));
  // The IETF draft's header, or a parameter for clients that cannot set headers.
  ctx->set_idempotency_key(req.has_header("Idempotency-Key")
                               ? header_of(req, "Idempotency-Key")
                               : req.get_param_value("idempotency_key"));
  if (req.has_param("top_k")) {
    const std::string text = req.get_param_value("top_k");
    int k = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return invalid("top_k: '" + utf8_prefix(text, 32) + "' is not a whole number (0..100)");
    }
    ctx->set_top_k(k);
  }
  if (req.has_param("min_score")) {
    const std::string text = req.get_param_value("min_score");
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
      return invalid("min_score: '" + utf8_prefix(text, 32) + "' is not a number (0..1)");
    ctx->set_min_score(v);
  }
  *name = req.get_param_value("name");
  if (req.has_param("format")) {
    const std::string format = req.get_param_value("format");
    if (format != "imprint" && format != "proto") {
      return invalid("format: unknown '" + utf8_prefix(format, 32) +
                     "' (imprint: as imprint query --json; proto: the gRPC answer in protobuf's "
                     "JSON mapping)");
    }
  }
  grpc::Status st = check_match_context(*ctx);
  if (!st.ok()) return st;
  return check_text("name", *name, FieldLimits::kUploadName);
}

// The creators' verdict: plain words, the matched items, no internals.
// `thumbnail` gives the link to a matched work's picture, or "" when it has none.
nlohmann::json check_response(const QueryResult& r, const grpc::Status& st,
                              const std::function<std::string(const Work&)>& thumbnail) {
  nlohmann::json j;
  if (!st.ok()) {
    j["verdict"] = "error";
    j["headline"] = "We could not read this file";
    j["message"] = st.error_message();
    j["matches"] = nlohmann::json::array();
    return j;
  }
  nlohmann::json matches = nlohmann::json::array();
  bool copy = false, possible = false;
  for (const Candidate& c : r.matches) {
    // The catalog's decision says what is a copy, for every method alike: a match (flag or
    // allow) is a copy, anything listed below the match line is a possible one.
    const bool is_copy = c.decision == MatchDecision::kFlag || c.decision == MatchDecision::kAllow;
    copy |= is_copy;
    possible |= !is_copy;
    const int sure = int(std::lround(100.0 * std::clamp(c.score, 0.0, 1.0)));
    std::string why;
    if (c.method == "sha256") {
      why = "Identical file.";
    } else if (c.method == kLocalFeaturesMethod) {
      why = std::string(is_copy ? "The picture appears" : "Parts of the picture may appear") +
            " in your image, cropped, turned or framed (" + std::to_string(sure) + "% match score).";
    } else if (c.method == kPictureRegionMethod) {
      why = std::string(is_copy ? "The picture is shown" : "The picture may be shown") +
            " inside your image (" + std::to_string(sure) + "% match score).";
    } else {
      why = std::string(is_copy ? "Same picture" : "Similar picture") + " (" + std::to_string(sure) +
            "% match score; " + std::to_string(c.distance) + " of 256 fingerprint bits differ).";
    }
    nlohmann::json m = {{"item", c.work.title.empty() ? c.work.id : c.work.title},
                        {"distance", c.distance >= 0 ? nlohmann::json(c.distance) : nlohmann::json(nullptr)},
                        {"score", std::round(c.score * 1000) / 1000},
                        {"explanation", why}};
    if (is_url(c.work.source)) m["url"] = c.work.source;
    if (const std::string link = thumbnail(c.work); !link.empty()) m["thumbnail"] = link;
    matches.push_back(m);
  }
  if (copy) {
    j["verdict"] = "copy";
    j["headline"] = r.matches.size() == 1 ? "A copy was found" : "Copies were found";
    j["message"] = "This image matches what the catalog holds below.";
  } else if (possible) {
    j["verdict"] = "possible";
    j["headline"] = "Possibly copied";
    j["message"] = "Something similar is in the catalog; it may be an edited copy. Have a look.";
  } else {
    j["verdict"] = "none";
    j["headline"] = "No copy found";
    j["message"] = r.weak ? "No copy found, but this image has too little detail to be sure."
                          : "Nothing in the catalog matches this image.";
  }
  j["matches"] = matches;
  return j;
}

// An error answer: `status`, and the body {"code": CODE, "message": MESSAGE, "field": FIELD}
// (field only when there is one), the same code and message the call gets over gRPC.
void answer_error(httplib::Response& res, int status, const std::string& code,
                  const std::string& message, const std::string& field = "") {
  nlohmann::json j = {{"code", code}, {"message", message}};
  if (!field.empty()) j["field"] = field;
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void answer_error(httplib::Response& res, const grpc::Status& st) {
  const std::string field =
      st.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? field_of(st.error_message()) : "";
  answer_error(res, http_status(st.error_code()), grpc_code_name(st.error_code()),
               st.error_message(), field);
}

// The request id this answer carries (set before routing; made here for answers httplib gives
// before routing, such as a malformed request's 400).
std::string request_id_of(const httplib::Request& req, httplib::Response& res) {
  if (!res.has_header("X-Request-Id")) {
    res.set_header("X-Request-Id", request_id_or_new(header_of(req, "X-Request-Id")));
  }
  return res.get_header_value("X-Request-Id");
}

// Whether an HTTP Host header names this server: localhost, an IP literal (a page whose origin
// is an address is not on an attacker's name, so no rebinding), or a name the operator allowed.
bool host_allowed(const std::string& header, const std::vector<std::string>& allowed) {
  std::string host = header;
  for (const char c : host) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;  // NUL, CR, ...
  }
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    const size_t close = host.find(']');
    if (close == std::string::npos) return false;
    host = host.substr(1, close - 1);
    in6_addr a6;
    return inet_pton(AF_INET6, host.c_str(), &a6) == 1;
  }
  if (const size_t colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (host.empty()) return false;
  if (host.back() == '.') host.pop_back();  // "localhost." is localhost
  in_addr a4;
  if (host == "localhost" || inet_pton(AF_INET, host.c_str(), &a4) == 1) return true;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& name) {
    return name.size() == host.size() &&
           std::equal(name.begin(), name.end(), host.begin(), [](char a, char b) {
             return std::tolower((unsigned char)a) == std::tolower((unsigned char)b);
           });
  });
}

// The status a gate's refusal gets over HTTP: busy 503 and over the rate limit 429, each with
// Retry-After. Nothing for a call the gate ran.
void answer_refusal(httplib::Response& res, const GateResult& r) {
  if (r.refusal == Refusal::kNone) return;
  res.status = r.refusal == Refusal::kBusy ? 503 : 429;
  res.set_header("Retry-After", std::to_string(r.retry_after_s));
}

// An HTTP call through the one gate every call passes (call_gate.cc): admission, the caller's
// Authorization header and role (refusals worded as over gRPC, naming the role a call needs), its
// rate-limit charge, metrics and the access-log line. `fn` answers a call it serves; a refusal or
// an error is answered here as JSON with its status (busy 503 and over the rate limit 429, each
// with Retry-After).
void gated(Server::Impl& s, const httplib::Request& req, httplib::Response& res, const char* method,
           const std::string& call, Role need,
           const std::function<grpc::Status(const Caller&)>& fn) {
  CallInfo info;
  info.method = method;
  info.call = call;
  info.need = need;
  if (req.has_header("Authorization")) info.authorization = header_of(req, "Authorization");
  info.missing_credentials = "missing 'Authorization: Bearer <key>' header";
  info.request_id = request_id_of(req, res);
  info.peer = req.remote_addr;
  const GateResult r = CallGate(s).run(info, fn);
  if (r.status.ok()) return;
  answer_error(res, r.status);
  answer_refusal(res, r);
}

// The catalog calls over HTTP (/api/v1/works, /api/v1/usage): `run` gives the answer's JSON.
void serve_catalog_call(Server::Impl& s, const httplib::Request& req, httplib::Response& res,
                        const char* metric, const std::string& call, Role need,
                        const std::function<grpc::Status(const Caller&, std::string*)>& run) {
  gated(s, req, res, metric, call, need, [&](const Caller& caller) {
    std::string answer;
    const grpc::Status st = run(caller, &answer);
    if (st.ok()) res.set_content(answer, "application/json");
    return st;
  });
}

// A message in protobuf's standard JSON mapping (lowerCamelCase names, every field present), as
// format=proto and clients generated from the proto have it.
grpc::Status proto_to_json(const google::protobuf::Message& m, std::string* out) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(m, out, o).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "answer not printable");
  }
  return grpc::Status::OK;
}

// A request body in the same mapping (either name form); a field the message does not have is
// refused rather than ignored, since a misspelt "replace" would otherwise pass unseen.
grpc::Status proto_from_json(const std::string& body, google::protobuf::Message* m) {
  if (body.empty()) {
    return invalid("body: empty; send a " + m->GetDescriptor()->name() +
                   " in protobuf's JSON mapping");
  }
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(body, m, o);
  if (!parsed.ok()) {
    return invalid("body: not a " + m->GetDescriptor()->name() + " in protobuf's JSON mapping (" +
                   utf8_prefix(std::string(parsed.message()), 200) + ")");
  }
  return grpc::Status::OK;
}

// Listing parameters: a count (1..kMaxHttpPage, default kHttpPage) and a yes/no flag.
constexpr int64_t kHttpPage = 100;
constexpr int64_t kMaxHttpPage = 1000;

grpc::Status page_limit_param(const httplib::Request& req, int64_t* limit) {
  *limit = kHttpPage;
  if (!req.has_param("limit")) return grpc::Status::OK;
  const std::string text = req.get_param_value("limit");
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *limit);
  if (ec != std::errc() || end != text.data() + text.size() || *limit < 1 ||
      *limit > kMaxHttpPage) {
    return invalid("limit: '" + utf8_prefix(text, 32) + "' (a page is 1 to " +
                   std::to_string(kMaxHttpPage) + " items; page_token continues)");
  }
  return grpc::Status::OK;
}

grpc::Status bool_param(const httplib::Request& req, const char* name, bool* out) {
  *out = false;
  if (!req.has_param(name)) return grpc::Status::OK;
  const std::string text = req.get_param_value(name);
  if (text == "true" || text == "1") {
    *out = true;
  } else if (text != "false" && text != "0") {
    return invalid(std::string(name) + ": '" + utf8_prefix(text, 32) + "' (true or false)");
  }
  return grpc::Status::OK;
}

// A page of a listing (ListWorks, ListUsage) as {"<items>": [...], "nextPageToken": "..."}: the
// request's limit, newest_first and page_token from the query, then `list(request, each)` with
// each item in protobuf's JSON mapping; the token continues after the last item, and is empty
// when the page was not full (nothing more to list).
template <typename Request, typename List>
grpc::Status listing_page(const httplib::Request& req, Request* lr, const char* items,
                          std::string* out, const List& list) {
  int64_t limit = 0;
  bool newest_first = false;
  grpc::Status st = page_limit_param(req, &limit);
  if (st.ok()) st = bool_param(req, "newest_first", &newest_first);
  if (!st.ok()) return st;
  lr->set_limit(limit);
  lr->set_newest_first(newest_first);
  lr->set_page_token(req.get_param_value("page_token"));
  std::string json_items, last_token;
  int64_t count = 0;
  grpc::Status printed;
  st = list(*lr, [&](const auto& item) {
    std::string json;  // MessageToJsonString appends
    printed = proto_to_json(item, &json);
    if (!printed.ok()) return false;
    json_items += (count++ > 0 ? "," : "") + json;
    last_token = item.page_token();
    return true;
  });
  if (!printed.ok()) return printed;
  if (!st.ok()) return st;
  *out = std::string("{\"") + items + "\":[" + json_items + "],\"nextPageToken\":" +
         nlohmann::json(count == limit ? last_token : std::string()).dump() + "}";
  return grpc::Status::OK;
}

// The work id a /api/v1/works/{id} path names (httplib has decoded it).
std::string work_id_of_path(const httplib::Request& req) {
  return req.path.substr(std::strlen("/api/v1/works/"));
}

}  // namespace

bool http_pre_route(Server::Impl& s, const httplib::Request& req, httplib::Response& res) {
  const std::string request_id = request_id_of(req, res);
  if (host_allowed(header_of(req, "Host"), s.options.allowed_hosts)) return false;
  answer_error(res, 421, "MISDIRECTED_REQUEST",
               "this server does not answer to Host '" + utf8_prefix(header_of(req, "Host"), 128) +
                   "' (imprint serve --allowed-host NAME)");
  s.log_access(dump({{"method", "http" + utf8_prefix(req.path, 128)},
                     {"code", "MISDIRECTED_REQUEST"},
                     {"peer", req.remote_addr},
                     {"request_id", request_id}}));
  return true;
}

bool http_error_body(Server::Impl& s, const httplib::Request& req, httplib::Response& res) {
  request_id_of(req, res);
  if (!res.body.empty()) return false;
  std::string what = "HTTP " + std::to_string(res.status);
  if (res.status == 404) what = "no such path: " + utf8_prefix(req.path, 128);
  if (res.status == 400) what = "malformed HTTP request";
  if (res.status == 413) {
    what = "request over the limit of " + std::to_string(s.options.max_message_bytes) + " bytes";
  }
  answer_error(res, res.status, code_for_http_status(res.status), what);
  return true;
}

void http_exception(Server::Impl& s, const httplib::Request& req, httplib::Response& res,
                    std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  answer_error(res, 500, "INTERNAL", "internal error: " + what);
  s.log_access(dump({{"method", "http" + req.path},
                     {"code", "INTERNAL"},
                     {"error", what},
                     {"peer", req.remote_addr},
                     {"request_id", request_id_of(req, res)}}));
}

std::vector<HttpRoute> http_routes(Server::Impl& s) {
  using Reader = const httplib::ContentReader*;
  std::vector<HttpRoute> routes;
  const auto add = [&routes](const char* method, const char* path, auto handler) {
    routes.push_back({method, path, std::regex(path), std::move(handler)});
  };
  // Liveness: the process answers. Readiness: it should get traffic (caught up with the catalog).
  add("GET", "/healthz", [](const httplib::Request&, httplib::Response& res, Reader) {
    res.set_content("ok\n", "text/plain");
  });
  add("GET", "/readyz", [&s](const httplib::Request&, httplib::Response& res, Reader) {
    if (s.ready()) {
      res.set_content("ready\n", "text/plain");
      return;
    }
    const Catalog::FollowState f = s.catalog.follow_state();
    res.status = 503;
    res.set_content("not ready" + (f.error.empty() ? std::string() : ": " + f.error) + "\n",
                    "text/plain");
  });
  add("GET", "/api/v1/openapi.json", [](const httplib::Request&, httplib::Response& res, Reader) {
    res.set_content(openapi_json(), "application/json");
  });
  add("GET", "/metrics", [&s](const httplib::Request&, httplib::Response& res, Reader) {
    s.update_gauges();
    res.set_content(s.metrics.exposition(), "text/plain; version=0.0.4");
  });
  if (s.options.public_page) {
    add("GET", "/", [](const httplib::Request&, httplib::Response& res, Reader) {
      res.set_content(kCreatorPageHtml, "text/html; charset=utf-8");
    });
    // The page's check passes the gate as a public call (no key; the public page's limit by
    // address; a call slot; its metric and access-log line) and always answers in the page's
    // words, busy 503 and over the limit 429 with Retry-After.
    add("POST", "/api/v1/check",
        [&s](const httplib::Request& req, httplib::Response& res, Reader reader) {
          CallInfo info;
          info.method = "http.check";
          info.call = "POST /api/v1/check";
          info.open_to_all = true;
          info.request_id = request_id_of(req, res);
          info.peer = req.remote_addr;
          QueryResult r;
          const GateResult g = CallGate(s).run(info, [&](const Caller&) {
            MatchRequestParts parts;
            v1::MatchResponse unused;
            grpc::Status st =
                read_image(req, *reader, size_t(s.options.max_message_bytes), &parts.image);
            if (st.ok())
              st = s.match(parts, "creator-page", &unused, nullptr, &r, /*record=*/false);
            return st;
          });
          const grpc::Status st = g.refusal == Refusal::kBusy
                                      ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                     "The server is busy; try again in a moment.")
                                      : g.status;
          // The page may show what it was just told matched: a link per picture, good for a
          // while.
          const auto link = [&s](const Work& w) -> std::string {
            Result<std::vector<uint8_t>> jpeg = s.catalog.preview(w.id);
            return jpeg.ok() ? "/api/v1/thumbnail?t=" + s.thumbnails.grant(std::move(*jpeg)) : "";
          };
          res.set_content(dump(check_response(r, st, link)), "application/json");
          answer_refusal(res, g);
        });
  }
  // A work's picture: by a link a result just gave (t=), or by id with a key that may read works.
  // Only pictures stored in the catalog at registration; never a file the work's source names.
  add("GET", "/api/v1/thumbnail",
      [&s](const httplib::Request& req, httplib::Response& res, Reader) {
        auto refuse = [&](grpc::StatusCode code, const std::string& message) {
          answer_error(res, grpc::Status(code, message));
        };
        res.set_header("Cache-Control", "private, max-age=600");
        if (req.has_param("t")) {  // the page's links: no key, limited as the page is
          int64_t retry_after_s = 0;
          grpc::Status st = s.charge_public(req.remote_addr, &retry_after_s);
          if (!st.ok()) {
            answer_error(res, st);
            res.status = 429;
            res.set_header("Retry-After", std::to_string(retry_after_s));
            return;
          }
          auto jpeg = s.thumbnails.find(req.get_param_value("t"));
          if (!jpeg) {
            return refuse(grpc::StatusCode::NOT_FOUND,
                          "no such thumbnail (links last ten minutes)");
          }
          res.set_content(std::string((*jpeg)->begin(), (*jpeg)->end()), "image/jpeg");
          return;
        }
        gated(s, req, res, "http.thumbnail", "GET /api/v1/thumbnail", Role::kRegistrar,
              [&](const Caller& who) {
                Result<Work> w = s.catalog.get_work(req.get_param_value("id"));
                if (w.ok() && !who.acts_for(w->owner)) {
                  return grpc::Status(
                      grpc::StatusCode::PERMISSION_DENIED,
                      "key '" + who.name + "' may not act for owner '" + w->owner + "'");
                }
                Result<std::vector<uint8_t>> jpeg = s.catalog.preview(req.get_param_value("id"));
                if (!jpeg.ok()) {
                  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                                      "no stored picture of this work");
                }
                res.set_content(std::string(jpeg->begin(), jpeg->end()), "image/jpeg");
                return grpc::Status::OK;
              });
      });
  add("POST", "/api/v1/match",
      [&s](const httplib::Request& req, httplib::Response& res, Reader reader) {
        gated(s, req, res, "http.match", "POST /api/v1/match", Role::kMatcher,
              [&](const Caller& caller) -> grpc::Status {
                const auto start = std::chrono::steady_clock::now();
                v1::MatchContext ctx;
                std::string name;
                grpc::Status st = match_context_from_params(req, &ctx, &name);
                if (!st.ok()) return st;
                // The body is read only for a caller let in, with parameters that can be served.
                std::string body;
                st = read_image(req, *reader, size_t(s.options.max_message_bytes), &body);
                if (!st.ok()) return st;
                if (body.empty()) {
                  return invalid("body: empty; send the image or video bytes as the request body");
                }
                // A video upload (by its container's signature) is matched as MatchVideo is.
                const bool video =
                    looks_like_video(std::span(reinterpret_cast<const uint8_t*>(body.data()),
                                               std::min<size_t>(body.size(), 12)));
                ImageFingerprint fp;
                QueryResult r;
                VideoQuery vq;
                VideoQueryResult vr;
                v1::MatchResponse image_answer;
                v1::MatchVideoResponse video_answer;
                if (video) {
                  v1::MatchVideoRequest vreq;
                  vreq.set_video(body);
                  *vreq.mutable_context() = ctx;
                  // The server's deadline, asked for every frame as over gRPC.
                  st = s.match_video(vreq, caller.name, caller.request_id, &video_answer, &vq, &vr,
                                     [&s, start] { return s.within_deadline(start); });
                } else {
                  MatchRequestParts parts;
                  parts.image = body;
                  parts.context = &ctx;
                  parts.request_id = caller.request_id;
                  st = s.match(parts, caller.name, &image_answer, &fp, &r);
                }
                if (!st.ok()) return st;
                // format=proto: the gRPC call's answer in protobuf's standard JSON mapping, for
                // clients generated from the proto; the default is `imprint query --json`'s form.
                if (req.get_param_value("format") == "proto") {
                  std::string proto_json;
                  st = proto_to_json(
                      video ? static_cast<const google::protobuf::Message&>(video_answer)
                            : image_answer,
                      &proto_json);
                  if (st.ok()) res.set_content(proto_json, "application/json");
                  return st;
                }
                res.set_content(dump(video ? video_result_to_json(name, vq, vr)
                                           : query_result_to_json(name, fp, r)),
                                "application/json");
                return grpc::Status::OK;
              });
      });
  // The catalog over HTTP, as CatalogService answers it over gRPC (catalog_calls.cc), bodies
  // and answers in protobuf's JSON mapping.
  add("POST", "/api/v1/works",
      [&s](const httplib::Request& req, httplib::Response& res, Reader reader) {
        serve_catalog_call(
            s, req, res, "http.register_work", "POST /api/v1/works", Role::kRegistrar,
            [&](const Caller& caller, std::string* out) {
              const auto start = std::chrono::steady_clock::now();
              std::string body;
              grpc::Status st =
                  read_image(req, *reader, size_t(s.options.max_message_bytes), &body);
              v1::RegisterWorkRequest rr;
              if (st.ok()) st = proto_from_json(body, &rr);
              body.clear();
              body.shrink_to_fit();
              v1::RegisterWorkResponse answer;
              if (st.ok()) {
                st = CatalogCalls(s).register_work(
                    caller, rr, [&s, start] { return s.within_deadline(start); }, &answer);
              }
              if (st.ok()) st = proto_to_json(answer, out);
              return st;
            });
      });
  add("GET", "/api/v1/works/(.+)",
      [&s](const httplib::Request& req, httplib::Response& res, Reader) {
        serve_catalog_call(s, req, res, "http.get_work", "GET /api/v1/works/{id}", Role::kRegistrar,
                           [&](const Caller&, std::string* out) {
                             v1::GetWorkRequest gr;
                             gr.set_work_id(work_id_of_path(req));
                             v1::Work w;
                             grpc::Status st = CatalogCalls(s).get_work(gr, &w);
                             if (st.ok()) st = proto_to_json(w, out);
                             return st;
                           });
      });
  add("DELETE", "/api/v1/works/(.+)",
      [&s](const httplib::Request& req, httplib::Response& res, Reader) {
        serve_catalog_call(s, req, res, "http.remove_work", "DELETE /api/v1/works/{id}",
                           Role::kRegistrar, [&](const Caller& caller, std::string* out) {
                             v1::RemoveWorkRequest rr;
                             rr.set_work_id(work_id_of_path(req));
                             grpc::Status st = CatalogCalls(s).remove_work(caller, rr);
                             if (st.ok()) *out = "{}";
                             return st;
                           });
      });
  add("GET", "/api/v1/works", [&s](const httplib::Request& req, httplib::Response& res, Reader) {
    serve_catalog_call(s, req, res, "http.list_works", "GET /api/v1/works", Role::kRegistrar,
                       [&](const Caller&, std::string* out) {
                         v1::ListWorksRequest lr;
                         lr.set_owner(req.get_param_value("owner"));
                         return listing_page(req, &lr, "works", out,
                                             [&](const v1::ListWorksRequest& r, const auto& each) {
                                               return CatalogCalls(s).list_works(r, each);
                                             });
                       });
  });
  add("GET", "/api/v1/usage", [&s](const httplib::Request& req, httplib::Response& res, Reader) {
    serve_catalog_call(s, req, res, "http.list_usage", "GET /api/v1/usage", Role::kAdmin,
                       [&](const Caller&, std::string* out) {
                         v1::ListUsageRequest lr;
                         lr.set_work_id(req.get_param_value("work_id"));
                         lr.set_owner(req.get_param_value("owner"));
                         lr.set_since(req.get_param_value("since"));
                         lr.set_until(req.get_param_value("until"));
                         lr.set_decision(req.get_param_value("decision"));
                         return listing_page(req, &lr, "events", out,
                                             [&](const v1::ListUsageRequest& r, const auto& each) {
                                               return CatalogCalls(s).list_usage(r, each);
                                             });
                       });
  });
  return routes;
}

bool answer_http_request(Server::Impl& s, const std::vector<HttpRoute>& routes,
                         const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& body) {
  // The methods httplib's request-line parser takes; any other is a 400 before any handler.
  static const std::set<std::string> kParsed = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
  // The methods httplib routes to handlers of their own (none registered here but GET, POST and
  // DELETE).
  static const std::set<std::string> kRouted = {"GET",    "HEAD",    "POST", "PUT",
                                                "DELETE", "OPTIONS", "PATCH"};
  bool routed = false, threw = false;
  if (!kParsed.count(req.method)) {
    res.status = 400;
  } else {
    try {
      routed = http_pre_route(s, req, res);
      const std::string method = req.method == "HEAD" ? "GET" : req.method;
      for (size_t i = 0; !routed && i < routes.size(); ++i) {
        const HttpRoute& route = routes[i];
        if (route.method == method && std::regex_match(req.path, route.pattern)) {
          route.handler(req, res, method == "POST" ? &body : nullptr);
          routed = true;
        }
      }
      if (!routed && !kRouted.count(req.method)) res.status = 400;
    } catch (...) {
      http_exception(s, req, res, std::current_exception());
      routed = true;
      threw = true;
    }
  }
  if (res.status == -1) res.status = routed ? 200 : 404;
  if (res.status >= 400) http_error_body(s, req, res);
  return !threw;
}

Status start_http(Server::Impl& s) {
  if (s.options.http_listen.empty()) return Status::Ok();
  const std::string& addr = s.options.http_listen;
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return invalid_argument("--http must be HOST:PORT");
  std::string host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::atoi(addr.c_str() + colon + 1);

  std::unique_ptr<httplib::Server> http;
  if (!s.options.tls_cert.empty()) {
    // The gRPC side's certificate and key, for HTTPS: bearer keys never travel in clear.
    auto https =
        std::make_unique<httplib::SSLServer>(s.options.tls_cert.c_str(), s.options.tls_key.c_str());
    if (!https->is_valid()) {
      return invalid_argument("cannot serve HTTPS with --tls-cert " + s.options.tls_cert +
                              " and --tls-key " + s.options.tls_key +
                              " (not a PEM certificate and its key?)");
    }
    http = std::move(https);
  } else {
    http = std::make_unique<httplib::Server>();
  }
  using HandlerResponse = httplib::Server::HandlerResponse;
  // Before any route: a request for a Host this server does not answer to is refused whole.
  http->set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    return http_pre_route(s, req, res) ? HandlerResponse::Handled : HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (no such path, a malformed request, a method not served) get
  // the same JSON body as ours; answers that have a body already keep it.
  http->set_error_handler(httplib::Server::HandlerWithResponse(
      [&s](const httplib::Request& req, httplib::Response& res) {
        return http_error_body(s, req, res) ? HandlerResponse::Handled : HandlerResponse::Unhandled;
      }));
  http->set_payload_max_length(size_t(s.options.max_message_bytes));
  http->set_read_timeout(10, 0);
  // One request per connection: a refused body is left unread, and the connection must close
  // rather than parse the rest of it as the next request.
  http->set_keep_alive_max_count(1);
  http->set_write_timeout(10, 0);

  for (HttpRoute& route : http_routes(s)) {
    if (route.method == "GET" || route.method == "DELETE") {
      auto h = [handler = std::move(route.handler)](const httplib::Request& req,
                                                    httplib::Response& res) {
        handler(req, res, nullptr);
      };
      if (route.method == "GET") {
        http->Get(route.path, std::move(h));
      } else {
        http->Delete(route.path, std::move(h));
      }
    } else {
      http->Post(route.path,
                 [handler = std::move(route.handler)](
                     const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) { handler(req, res, &reader); });
    }
  }
  // A handler that throws (a bug) still answers with a body; its slot is given back by CallSlot.
  http->set_exception_handler([&s](const httplib::Request& req, httplib::Response& res,
                                   std::exception_ptr ep) { http_exception(s, req, res, ep); });

  const int bound =
      port == 0 ? http->bind_to_any_port(host) : (http->bind_to_port(host, port) ? port : -1);
  if (bound < 0) return io_error("cannot listen for HTTP on " + addr);
  s.http_port = bound;
  httplib::Server* raw = http.get();
  s.http = std::move(http);
  // httplib's stop() does nothing until the listening loop has begun (is_running), and a loop
  // that begins after such a stop waits in accept() for ever, so a server stopped right after it
  // started (ServerTest.PublicAddressWithoutTlsNeedsInsecure on a busy machine) hung in its
  // shutdown's join. Start returns once the loop runs (or has ended, when it could not run).
  auto ended = std::make_shared<std::atomic<bool>>(false);
  s.http_thread = std::thread([raw, ended] {
    raw->listen_after_bind();
    *ended = true;
  });
  while (!raw->is_running() && !*ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

}  // namespace imprint::server
