// libFuzzer target: HTTP requests as a hostile caller sends them, answered in process by the
// server's own handling (http_front.h: the Host check, the routes, the error and exception
// handlers) against a small real catalog of two registered works, made in a temporary folder.
// What is fuzzed: methods, paths and query parameters, headers (Host, Authorization with known
// and unknown keys, X-Request-Id, Idempotency-Key, Content-Type and Content-Length), bodies raw
// or as form parts, under four server configurations (with and without keys, tight limits, no
// free call slot). Besides crashes, leaks and hangs, it traps on what a hostile caller must
// never get: a handler that throws, an answer without a request id or, for an error, without a
// JSON body, a key in an answer or a log line, a work's picture or a match for a caller whose key
// may not have it, a work registered or removed for an owner the key does not act for, usage for
// a key that is not an admin's, or a body read past the limit or read at all before the caller
// is let in. Inputs may register and remove works (/api/v1/works); the catalog is put back to its
// two works after each input, so every input starts from the same state.
//
// Input: one byte picking the configuration (byte % 4) and the caller's address (byte / 4 % 4),
// then up to four requests separated by a line "%%". Each is written as on the wire, lines
// ending in "\n" (a "\r" before it is dropped): "METHOD TARGET [VERSION]", header lines
// "Name: value" (the value URL-decoded, as httplib 0.11.4 does), an empty line, then the body.
// A body with a multipart/form-data Content-Type that names a boundary is handed over as parts,
// split at lines "--" (httplib's own multipart parser is not ours to fuzz). Stand-ins, so the
// fuzzer need not guess 47-byte keys or encode pictures: "$admin", "$gallery", "$platform" and
// "$other" in a header or target are those keys (the key file below), "$thumb" in a target is the
// token of the last thumbnail link an earlier request of the same input was given, and a body or
// part starting "$jpeg0" (art0 re-encoded), "$png1" (art1's registered bytes) or "$crop0" (a crop
// of art0) starts with that picture.
// IMPRINT_HTTP_FUZZ_VERBOSE=1 prints each answer, for writing seeds.
#include <httplib.h>
#include <stdlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_keys.h"
#include "catalog.h"
#include "http_front.h"
#include "server_impl.h"

namespace {

using imprint::server::ApiKeys;
using imprint::server::Role;
namespace server = imprint::server;

// httplib reads a body in pieces of its receive buffer (CPPHTTPLIB_RECV_BUFSIZ); the handlers
// see the same pieces here.
constexpr size_t kChunk = 4096;
constexpr size_t kMaxRequests = 4;

// Keys as `imprint keys add` makes them ("imp_" and 43 characters), fixed so runs repeat.
const std::string kAdminKey = "imp_" + std::string(43, 'A');
const std::string kGalleryKey = "imp_" + std::string(43, 'G');   // registrar for Ana
const std::string kPlatformKey = "imp_" + std::string(43, 'P');  // matcher
const std::string kOtherKey = "imp_" + std::string(43, 'O');     // registrar for Zed
const std::array<const std::string*, 4> kKeys = {&kAdminKey, &kGalleryKey, &kPlatformKey,
                                                 &kOtherKey};

// A deterministic picture with corners and texture for local features and a PDQ hash of full
// quality: a colour ramp under rectangles, discs and lines placed by a fixed generator.
cv::Mat picture(int width, int height, uint32_t seed) {
  cv::Mat m(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x * 255 / width), uint8_t(y * 255 / height),
                                        uint8_t((x + 2 * y + 70 * seed) & 255));
    }
  }
  uint32_t state = seed * 2654435761u + 12345;
  const auto next = [&state](int n) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return int(state % uint32_t(n));
  };
  for (int i = 0; i < 40; ++i) {
    const cv::Scalar colour(next(256), next(256), next(256));
    const cv::Point a(next(width), next(height)), b(next(width), next(height));
    switch (i % 3) {
      case 0:
        cv::rectangle(m, a, b, colour, cv::FILLED);
        break;
      case 1:
        cv::circle(m, a, 4 + next(height / 4), colour, cv::FILLED);
        break;
      default:
        cv::line(m, a, b, colour, 1 + next(4));
        break;
    }
  }
  return m;
}

std::string encoded(const cv::Mat& m, const char* ext, int jpeg_quality = 90) {
  std::vector<uint8_t> bytes;
  if (!cv::imencode(ext, m, bytes, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality})) std::abort();
  return std::string(bytes.begin(), bytes.end());
}

// The catalog, the key file and the servers' state: made once per process in a new temporary
// folder, which is removed at exit (a crashing run leaves it behind in the temp dir).
struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<imprint::Catalog> catalog;
  std::vector<std::unique_ptr<server::Server::Impl>> servers;
  std::vector<std::vector<server::HttpRoute>> routes;
  std::string jpeg0, png1, crop0;
  std::vector<std::string> log;  // the access log lines of the request being answered
  // The two works every input starts from, and the catalog generation that holds just them.
  std::vector<imprint::WorkInput> works;
  int64_t generation = 0;

  Fixture() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "imprint-http-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) std::abort();
    dir = pattern;

    imprint::CatalogOptions co;
    co.dir = (dir / "cat").string();
    co.sync_commits = false;
    co.now_ms = [] { return int64_t(1'700'000'000'000); };
    auto opened = imprint::Catalog::open(co);
    if (!opened.ok()) std::abort();
    catalog = std::move(*opened);
    const cv::Mat art0 = picture(320, 240, 1), art1 = picture(320, 240, 2);
    png1 = encoded(art1, ".png");
    jpeg0 = encoded(art0, ".jpg", 70);
    crop0 = encoded(art0(cv::Rect(48, 36, 200, 150)), ".jpg");
    std::vector<imprint::WorkInput> inputs;
    for (const std::string& bytes : {encoded(art0, ".png"), png1}) {
      auto in = imprint::work_input_from_image(
          std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      if (!in.ok()) std::abort();
      inputs.push_back(std::move(*in));
    }
    inputs[0].work.id = "art0";
    inputs[0].work.owner = "Ana";
    inputs[0].work.title = "Ramp with shapes";
    inputs[1].work.id = "art1";
    inputs[1].work.owner = "Bo";
    inputs[1].work.source = "https://example.org/art1.png";
    inputs[1].work.licence.set(imprint::Purpose::kCommercial,
                               {imprint::Permission::kLicensed, {"Acme"}});
    works = inputs;
    restore();

    const std::string keys_file = (dir / "keys").string();
    std::ofstream(keys_file) << ApiKeys::line_for("boss", Role::kAdmin, kAdminKey) << '\n'
                             << ApiKeys::line_for("gallery", Role::kRegistrar, kGalleryKey)
                             << " Ana\n"
                             << ApiKeys::line_for("platform", Role::kMatcher, kPlatformKey) << '\n'
                             << ApiKeys::line_for("other", Role::kRegistrar, kOtherKey) << " Zed\n";
    // The limits are the server's but smaller, so an input within libFuzzer's length can pass
    // them and an image stays quick to decode under AddressSanitizer.
    for (int config = 0; config < 4; ++config) {
      server::ServerOptions o;
      o.http_listen.clear();
      o.allowed_hosts = {"imprint.example.org"};
      o.max_message_bytes = 40'000;
      o.max_pixels = 4'000'000;
      o.call_deadline_ms = 2000;
      o.max_video_seconds = 20;
      o.public_rate_limit = 0;
      o.access_log = [this](const std::string& line) { log.push_back(line); };
      const bool keys = config != 1;  // 1: no key file, every caller is an anonymous admin
      if (config == 2) {              // tight: a call per address or key, then 429; small bodies
        o.public_page = false;
        o.rate_limit = 1e-6;
        o.rate_limit_burst = 1;
        o.public_rate_limit = 1e-6;
        o.public_rate_limit_burst = 1;
        o.max_message_bytes = 1024;
      }
      if (config == 3) o.max_concurrent_calls = 0;  // every match answered "busy"
      auto s = std::make_unique<server::Server::Impl>(*catalog, nullptr, o);
      if (keys) {
        auto loaded = ApiKeys::load(keys_file);
        if (!loaded.ok()) std::abort();
        s->keys.set(std::move(*loaded));
      }
      routes.push_back(server::http_routes(*s));
      servers.push_back(std::move(s));
    }
  }

  // Back to art0 and art1 alone, as registered here, after an input that registered, replaced
  // or removed works over /api/v1/works: every input starts from the same catalog, so a crash
  // found replays from its input alone.
  void restore() {
    const imprint::Result<imprint::CatalogStats> now = catalog->stats();
    if (!now.ok()) std::abort();
    if (generation != 0 && now->generation == generation) return;
    std::vector<std::string> ids;
    imprint::WorkFilter all;
    if (!catalog
             ->list_works(all,
                          [&ids](const imprint::Work& w) {
                            ids.push_back(w.id);
                            return true;
                          })
             .ok()) {
      std::abort();
    }
    for (const std::string& id : ids) {
      if (!catalog->remove_work(id).ok()) std::abort();
    }
    for (const auto& r : catalog->register_works(works)) {
      if (!r.ok()) std::abort();
    }
    const imprint::Result<imprint::CatalogStats> after = catalog->stats();
    if (!after.ok()) std::abort();
    generation = after->generation;
  }

  ~Fixture() {
    routes.clear();
    servers.clear();
    catalog.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string with_keys(std::string s) {
  if (s.find('$') == std::string::npos) return s;
  replace_all(s, "$admin", kAdminKey);
  replace_all(s, "$gallery", kGalleryKey);
  replace_all(s, "$platform", kPlatformKey);
  replace_all(s, "$other", kOtherKey);
  return s;
}

std::string with_picture(std::string_view body) {
  const Fixture& f = fixture();
  for (const auto& [name, bytes] : {std::pair{"$jpeg0", &f.jpeg0}, std::pair{"$png1", &f.png1},
                                    std::pair{"$crop0", &f.crop0}}) {
    const std::string_view n(name);
    if (body.substr(0, n.size()) == n) return *bytes + std::string(body.substr(n.size()));
  }
  return std::string(body);
}

std::vector<std::string_view> split(std::string_view s, std::string_view separator,
                                    size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = s.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(0, at));
    s.remove_prefix(at + separator.size());
  }
  parts.push_back(s);
  return parts;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "http_request_fuzzer: %s\n", what);
  __builtin_trap();
}

// One request of the input: parsed, answered, and the answer held to what it must never be.
// `thumb` carries the token of the last thumbnail link answered to the next request.
void answer_one(int config, const std::string& peer, std::string_view text, std::string* thumb) {
  Fixture& f = fixture();
  server::Server::Impl& s = *f.servers[config];
  const size_t head_end = text.find("\n\n");
  const std::string_view head = text.substr(0, head_end);
  const std::string_view raw_body =
      head_end == std::string_view::npos ? std::string_view() : text.substr(head_end + 2);

  httplib::Request req;
  std::vector<std::string_view> lines = split(head, "\n", 64);
  for (std::string_view& line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  // The request line, split as httplib splits it: the path decoded, the query parsed.
  const std::vector<std::string_view> words = split(lines[0], " ", 3);
  req.method = std::string(words[0]);
  std::string target = words.size() > 1 ? with_keys(std::string(words[1])) : "";
  replace_all(target, "$thumb", *thumb);
  req.version = words.size() > 2 ? std::string(words[2]) : "HTTP/1.1";
  req.target = target;
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  const size_t question = target.find('?');
  req.path = httplib::detail::decode_url(target.substr(0, question), false);
  if (question != std::string::npos && question + 1 < target.size()) {
    httplib::detail::parse_query_text(target.substr(question + 1), req.params);
  }
  // Header lines as httplib 0.11.4 reads them: spaces and tabs around the value trimmed, a line
  // without a value dropped, and the value URL-decoded ("%00" arrives as a NUL byte).
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = lines[i].substr(colon + 1);
    while (!value.empty() && blank(value.front())) value.remove_prefix(1);
    while (!value.empty() && blank(value.back())) value.remove_suffix(1);
    if (value.empty()) continue;
    req.headers.emplace(std::string(lines[i].substr(0, colon)),
                        httplib::detail::decode_url(with_keys(std::string(value)), false));
  }
  req.remote_addr = peer;
  req.remote_port = 40000;
  req.set_header("REMOTE_ADDR", req.remote_addr);
  req.set_header("REMOTE_PORT", "40000");
  req.set_header("LOCAL_ADDR", "127.0.0.1");
  req.set_header("LOCAL_PORT", "8080");

  // The body, handed over as httplib's reader hands it: in pieces, stopping when refused.
  const std::string body = with_picture(raw_body);
  size_t handed = 0;
  const auto hand = [&handed](std::string_view bytes, const httplib::ContentReceiver& receive) {
    for (size_t at = 0; at < bytes.size(); at += kChunk) {
      const size_t n = std::min(kChunk, bytes.size() - at);
      handed += n;
      if (!receive(bytes.data() + at, n)) return false;
    }
    return true;
  };
  httplib::ContentReader reader(
      [&](httplib::ContentReceiver receive) { return hand(body, receive); },
      [&](httplib::MultipartContentHeader header, httplib::ContentReceiver receive) {
        if (!contains(req.get_header_value("Content-Type"), "boundary=")) return false;
        for (std::string_view part : split(raw_body, "\n--\n", 16)) {
          httplib::MultipartFormData form{"file", "", "upload.jpg", "image/jpeg"};
          if (!header(form) || !hand(with_picture(part), receive)) return false;
        }
        return true;
      });

  // The owner of the work a DELETE names, before it is answered.
  std::optional<std::string> owner_before;
  if (req.method == "DELETE" && req.path.rfind("/api/v1/works/", 0) == 0) {
    const auto w = f.catalog->get_work(req.path.substr(std::string("/api/v1/works/").size()));
    if (w.ok()) owner_before = w->owner;
  }
  f.log.clear();
  httplib::Response res;
  check(server::answer_http_request(s, f.routes[config], req, res, reader),
        "a handler threw (answered by the exception handler)");

  static const bool verbose = std::getenv("IMPRINT_HTTP_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "config %d %s %s -> %d %s (%zu bytes handed)\n%.600s\n", config,
                 req.method.c_str(), req.path.c_str(), res.status,
                 res.get_header_value("Content-Type").c_str(), handed, res.body.c_str());
  }

  // Every answer: a status and the request id, the caller's when usable.
  check(res.status >= 200 && res.status <= 599, "an answer without an HTTP status");
  const std::string id = res.get_header_value("X-Request-Id");
  check(!id.empty() && id.size() <= server::kMaxRequestIdBytes, "an answer without a request id");
  for (char c : id) check(c > 0x20 && c < 0x7f, "a request id that is not printable ASCII");
  // Every error is JSON: {"code", "message"}, or the creators' page's verdict for its check.
  if (res.status >= 400 && req.path != "/readyz") {
    const nlohmann::json j = nlohmann::json::parse(res.body, nullptr, false);
    check(j.is_object(), "an error answer whose body is not a JSON object");
    if (req.path != "/api/v1/check") {
      check(j.contains("code") && j["code"].is_string() && j.contains("message") &&
                j["message"].is_string(),
            "an error answer without code and message");
    }
  }

  // No key in an answer or a log line, unless the caller put it somewhere answers may echo (a
  // request id, the path) besides its Authorization header.
  std::string echoable = req.target + req.path + body;
  for (const auto& [name, value] : req.params) echoable += name + "=" + value + "\n";
  for (const auto& [name, value] : req.headers) {
    const bool authorization = !httplib::detail::ci()(name, "Authorization") &&
                               !httplib::detail::ci()("Authorization", name);
    if (!authorization) {
      echoable += name + ": " + value + "\n";
    }
  }
  std::string answered = res.body;
  for (const auto& [name, value] : res.headers) answered += name + ": " + value + "\n";
  for (const std::string& line : f.log) answered += line + "\n";
  for (const std::string* key : kKeys) {
    check(!contains(answered, *key) || contains(echoable, *key), "an API key in an answer or log");
  }

  // What keys may have (config 1 has none: every caller is an admin).
  const std::string auth = req.get_header_value("Authorization");
  const bool keyed = config != 1;
  const bool admin = !keyed || auth == "Bearer " + kAdminKey;
  const auto acts_for = [&](const std::string& owner) {
    return admin || (auth == "Bearer " + kGalleryKey && owner == "Ana") ||
           (auth == "Bearer " + kOtherKey && owner == "Zed");
  };
  if (keyed && req.path == "/api/v1/thumbnail" && !req.has_param("t") &&
      res.get_header_value("Content-Type") == "image/jpeg") {
    const auto w = f.catalog->get_work(req.get_param_value("id"));
    check(w.ok() && acts_for(w->owner), "a work's picture for a caller whose key may not read it");
  }
  // The catalog calls: bodies only from registrars and admins, and writes only for the owners a
  // key acts for (the owner a work was registered for, or had before it was removed).
  const bool registrar = admin || auth == "Bearer " + kGalleryKey || auth == "Bearer " + kOtherKey;
  if (req.path == "/api/v1/works" && req.method == "POST") {
    check(registrar || handed == 0, "a body read before the caller was let in");
    if (res.status == 200) {
      const nlohmann::json j = nlohmann::json::parse(res.body, nullptr, false);
      check(j.is_object() && j.contains("work") && j["work"].is_object() &&
                j["work"].contains("owner") && j["work"]["owner"].is_string(),
            "a registration answered without its work");
      check(!keyed || acts_for(j["work"]["owner"].get<std::string>()),
            "a work registered for an owner the key does not act for");
    }
  }
  if (req.method == "DELETE" && res.status == 200) {
    check(!keyed || (owner_before && acts_for(*owner_before)),
          "a work removed by a key that does not act for its owner");
  }
  if (req.path == "/api/v1/usage") check(res.status != 200 || admin, "usage for a non-admin key");
  if (req.path == "/api/v1/match" && req.method == "POST") {
    const bool may_match = admin || auth == "Bearer " + kPlatformKey;
    check(may_match || handed == 0, "a body read before the caller was let in");
    check(may_match || res.status != 200, "a match for a caller whose key may not match");
  }
  // A body is taken in up to the limit and at most one piece past it, whatever its framing.
  check(handed <= size_t(s.options.max_message_bytes) + kChunk, "a body read past the limit");

  // The creators' page's thumbnail links, for a later request's "$thumb".
  if (req.path == "/api/v1/check" && res.status == 200) {
    const nlohmann::json j = nlohmann::json::parse(res.body, nullptr, false);
    if (j.is_object() && j.contains("matches") && j["matches"].is_array()) {
      for (const nlohmann::json& m : j["matches"]) {
        if (m.is_object() && m.contains("thumbnail") && m["thumbnail"].is_string()) {
          const std::string link = m["thumbnail"];
          *thumb = link.substr(link.find('=') + 1);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::array<std::string, 4> kPeers = {"127.0.0.1", "203.0.113.7", "2001:db8::1",
                                                    "::ffff:198.51.100.2"};
  const int config = data[0] % 4;
  const std::string& peer = kPeers[(data[0] / 4) % 4];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string thumb;
  for (std::string_view request : split(text, "\n%%\n", kMaxRequests)) {
    answer_one(config, peer, request, &thumb);
  }
  fixture().restore();
  return 0;
}
