#include "scan_html.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "licence.h"
#include "scan_journal.h"
#include "scan_thumbs.h"

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

// Findings listed per work before the rest are summarised as a count; the full list is in
// findings.jsonl. Near misses and permitted copies are secondary, so fewer are inlined.
constexpr size_t kMaxCardsPerWork = 500;
constexpr size_t kMaxReviewCards = 1000;
constexpr size_t kMaxErrorRows = 200;
// Findings read into memory to group; a scan with more is summarised by summary.json's counts
// and the page says how many it shows.
constexpr size_t kMaxFindingsLoaded = 100000;

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Text for the page: JSON strings are valid UTF-8 after json_line's replacement, but a value may
// be absent or not a string.
// A number field that may be absent or null (a local-features match has no distance).
double number(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return json_line(*it);
}

std::string base64(const std::vector<uint8_t>& in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8 | in[i + 2];
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i < in.size()) {
    const uint32_t v = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < in.size() ? kTable[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string data_uri(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return "";
  return "data:image/jpeg;base64," + base64(bytes);
}

std::string fmt_score(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string fmt_int(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string licence_summary(const nlohmann::json& licence) {
  Result<LicencePolicy> p = LicencePolicy::from_json(licence.dump());
  return p.ok() ? p->summary() : "licence terms unreadable";
}

// The dihedral transform in words for the page (the JSON keeps match_json.h's names).
std::string transform_words(const std::string& t) {
  static const std::map<std::string, std::string> kWords = {{"rot90", "rotated 90\u00b0"},
                                                            {"rot180", "rotated 180\u00b0"},
                                                            {"rot270", "rotated 270\u00b0"},
                                                            {"flip-x", "flipped upside down"},
                                                            {"flip-y", "mirrored"},
                                                            {"flip-plus1", "transposed"},
                                                            {"flip-minus1", "anti-transposed"}};
  auto it = kWords.find(t);
  return it == kWords.end() ? t : it->second;
}

struct Card {
  nlohmann::json finding;  // the findings line
  nlohmann::json match;    // the candidate this card is about
};

struct WorkGroup {
  std::string id, title, owner;
  nlohmann::json licence;
  std::vector<Card> cards;
  double best = 0;  // the highest score
};

constexpr const char* kCss = R"css(
:root { --ink:#1d2430; --muted:#5b6575; --line:#d9dee6; --flag:#b3261e; --review:#a15c00;
  --ok:#1e6b3a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--ink); }
.meta { color: var(--muted); margin: 2px 0; font-size: 13px; word-break: break-all; }
.banner { margin: 14px 0; padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.banner.bad { background: #fdecea; color: var(--flag); border: 1px solid #f3b7b2; }
.banner.good { background: #e8f4ec; color: var(--ok); border: 1px solid #b5dcc2; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0 8px; }
.tile { flex: 1 1 130px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 24px; font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
.tile.flag b { color: var(--flag); } .tile.review b { color: var(--review); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
details { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; }
details > summary { cursor: pointer; padding: 8px 12px; font-weight: 600;
  list-style-position: inside; }
details[open] > summary { border-bottom: 1px solid var(--line); }
details.owner > summary { font-size: 15px; background: #f5f7fa; border-radius: 8px; }
details.work { margin: 8px 10px; }
details.work > summary { display: flex; align-items: center; gap: 12px; }
.sub { color: var(--muted); font-weight: 400; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 10px;
  padding: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px; break-inside: avoid; }
.pair { display: flex; gap: 6px; }
.pair figure { margin: 0; flex: 1; text-align: center; }
.pair figcaption { font-size: 11px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
.thumb { width: 160px; height: 160px; object-fit: contain; background: #eef1f5; border-radius: 4px;
  display: block; margin: 0 auto; }
svg.thumb { display: block; }
.mini { width: 48px; height: 48px; flex: none; }
.facts { font-size: 12px; margin-top: 6px; word-break: break-all; }
.facts div { margin: 1px 0; }
.dist { font-weight: 700; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 11px;
  font-weight: 700; color: #fff; }
.badge.flag { background: var(--flag); }
.badge.review { background: var(--review); }
.badge.allow { background: var(--ok); }
.caption { color: var(--muted); font-style: italic; }
.more { padding: 4px 12px 12px; color: var(--muted); }
code { font-size: 12px; }
@media print { details { break-inside: avoid-page; } body { max-width: none; } }
)css";

class Page {
 public:
  Page(const std::string& dir, const nlohmann::json& summary) : dir_(dir), s_(summary) {}
  Status write();

 private:
  void load();
  std::string work_symbol(const std::string& work_id);
  std::string item_image(const nlohmann::json& f);
  std::string card(const Card& c);
  void totals();
  void group_section(const std::string& decision, bool collapsed_default, size_t cap);
  void errors();

  const std::string& dir_;
  const nlohmann::json& s_;
  std::ostringstream body_;
  std::map<std::string, std::string> symbols_;  // work id -> svg symbol id
  std::string defs_;
  size_t inlined_ = 0;
  size_t not_loaded_ = 0;
  std::vector<nlohmann::json> findings_;
};

// A work's thumbnail is embedded once, as an SVG <image> that every card of the work <use>s:
// a report where one work matches 2,000 samples carries its picture once, and it prints.
std::string Page::work_symbol(const std::string& work_id) {
  auto it = symbols_.find(work_id);
  if (it != symbols_.end()) return it->second;
  const std::string sym = "w" + std::to_string(symbols_.size());
  std::string uri = data_uri(dir_ + "/" + work_thumb_name(work_id));
  if (uri.empty()) {
    defs_ += "<symbol id=\"" + sym +
             "\" viewBox=\"0 0 160 160\"><rect width=\"160\" height=\"160\" "
             "fill=\"#e3e7ee\"/><text x=\"80\" y=\"76\" font-size=\"12\" text-anchor=\"middle\" "
             "fill=\"#5b6575\">registered image</text><text x=\"80\" y=\"92\" font-size=\"12\" "
             "text-anchor=\"middle\" fill=\"#5b6575\">not on this machine</text></symbol>";
  } else {
    defs_ += "<symbol id=\"" + sym +
             "\" viewBox=\"0 0 160 160\"><image width=\"160\" height=\"160\" "
             "preserveAspectRatio=\"xMidYMid meet\" href=\"" +
             uri + "\"/></symbol>";
  }
  symbols_[work_id] = sym;
  return sym;
}

std::string Page::item_image(const nlohmann::json& f) {
  const std::string thumb = text(f, "thumb");
  if (!thumb.empty() && inlined_ < kMaxInlineThumbs) {
    const std::string uri = data_uri(dir_ + "/" + thumb);
    if (!uri.empty()) {
      ++inlined_;
      return "<img class=\"thumb\" alt=\"corpus image\" src=\"" + uri + "\">";
    }
  }
  return "<div class=\"thumb\" style=\"display:flex;align-items:center;justify-content:center;"
         "font-size:11px;color:#5b6575\">" +
         (thumb.empty() ? std::string("no thumbnail") : esc(thumb)) + "</div>";
}

std::string Page::card(const Card& c) {
  const nlohmann::json& f = c.finding;
  const nlohmann::json& m = c.match;
  std::string h =
      "<div class=\"card\"><div class=\"pair\"><figure>" + item_image(f) +
      "<figcaption>corpus</figcaption></figure><figure><svg class=\"thumb\" "
      "viewBox=\"0 0 160 160\"><use href=\"#" +
      work_symbol(text(m, "work_id")) +
      "\"/></svg><figcaption>registered</figcaption></figure></div><div class=\"facts\">";
  const std::string decision = text(m, "decision");
  const std::string method_name = text(m, "method");
  const std::string method = method_name == "sha256"           ? "identical bytes"
                             : method_name == "vpdq"           ? "video frames (vPDQ)"
                             : method_name == "local-features" ? "local features"
                             : method_name == "pdq-region"     ? "PDQ of a picture region"
                                                               : "PDQ";
  const std::string transform = text(m, "transform");
  char dist[160];
  const double distance = number(m, "distance", -1);
  std::snprintf(dist, sizeof dist, "%sscore %.2f, %s%s",
                distance >= 0 ? ("distance " + std::to_string(int(distance)) + ", ").c_str() : "",
                number(m, "score", 0.0), method.c_str(),
                transform == "original" ? "" : (", " + transform_words(transform)).c_str());
  h += "<div><span class=\"badge " + esc(decision) + "\">" + esc(decision) +
       "</span> <span class=\"dist\">" + esc(dist) + "</span></div>";
  // Videos: which seconds of the corpus video copy which seconds of the work.
  if (m.contains("segments") && m["segments"].is_array()) {
    for (const nlohmann::json& seg : m["segments"]) {
      char span[160];
      std::snprintf(span, sizeof span, "video %.1f&ndash;%.1f s copies the work's %.1f&ndash;%.1f s",
                    seg.value("query_start", 0.0), seg.value("query_end", 0.0),
                    seg.value("work_start", 0.0), seg.value("work_end", 0.0));
      h += "<div>" + std::string(span) + "</div>";
    }
  }
  if (f.contains("shard")) {
    h += "<div><code>" + esc(text(f, "member")) + "</code> in <code>" + esc(text(f, "shard")) +
         "</code></div>";
  } else {
    h += "<div><code>" + esc(text(f, "path")) + "</code></div>";
  }
  const std::string url = text(f, "url");
  if (!url.empty()) {
    const bool web = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
    h += web ? "<div><a href=\"" + esc(url) + "\">" + esc(url) + "</a></div>"
             : "<div>" + esc(url) + "</div>";
  }
  const std::string caption = text(f, "caption");
  if (!caption.empty()) {
    h += "<div class=\"caption\">&ldquo;" + esc(caption.substr(0, 300)) +
         (caption.size() > 300 ? "&hellip;" : "") + "&rdquo;</div>";
  }
  h += "</div></div>";
  return h;
}

void Page::load() {
  std::ifstream f(dir_ + "/findings.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    if (findings_.size() >= kMaxFindingsLoaded) {
      ++not_loaded_;
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("matches")) findings_.push_back(std::move(j));
  }
}

void Page::totals() {
  const nlohmann::json& t = s_["totals"];
  const nlohmann::json& scan = s_["scan"];
  const nlohmann::json& cat = s_["catalog"];
  body_ << "<h1>Registered works found in a scanned corpus</h1>";
  body_ << "<p class=\"meta\">Purpose checked: <b>" << esc(text(scan, "purpose")) << "</b>"
        << (text(scan, "licensee").empty() ? "" : " for " + esc(text(scan, "licensee")))
        << " &middot; match distance &le; " << scan.value("match_distance", 31)
        << " (PDQ, fast mode" << (scan.value("dihedral", false) ? ", rotations and mirrors" : "")
        << (scan.value("second_stage", false) ? "; local features where PDQ finds nothing" : "")
        << ") &middot; report generated " << esc(text(s_, "generated")) << "</p>";
  body_ << "<p class=\"meta\">Catalog <code>" << esc(text(cat, "dir"))
        << "</code> &middot; id <code>" << esc(text(cat, "catalog_id"))
        << "</code> &middot; generation " << esc(text(cat, "generation")) << " &middot; "
        << fmt_int(cat.value("works", int64_t{0})) << " works</p>";
  std::string sources;
  for (const auto& src : scan["sources"])
    sources += (sources.empty() ? "" : ", ") + src.get<std::string>();
  body_ << "<p class=\"meta\">Sources: <code>" << esc(sources) << "</code></p>";

  const bool complete = s_.value("complete", false);
  const size_t covered = s_["shards_covered"].size(), count = s_.value("shard_count", size_t{1});
  if (!complete || covered != count) {
    std::string why = !complete ? "The scan did not finish: some units were interrupted or could "
                                  "not be opened (see summary.json, failed_units)."
                                : "";
    if (covered != count) {
      why += (why.empty() ? "" : " ") + std::string("This report covers ") +
             std::to_string(covered) + " of " + std::to_string(count) + " shards.";
    }
    body_ << "<div class=\"banner bad\">Incomplete. " << esc(why) << "</div>";
  } else {
    body_ << "<div class=\"banner good\">Complete: every item of the sources was scanned.</div>";
  }
  auto tile = [&](const char* cls, const char* label, int64_t v) {
    body_ << "<div class=\"tile " << cls << "\"><b>" << fmt_int(v) << "</b><span>" << label
          << "</span></div>";
  };
  body_ << "<div class=\"totals\">";
  tile("", "items", t.value("items", int64_t{0}));
  tile("", "images scanned", t.value("scanned", int64_t{0}));
  tile("", "matched a work", t.value("matched", int64_t{0}));
  tile("flag", "flagged", t.value("flagged", int64_t{0}));
  tile("review", "to review", t.value("review", int64_t{0}));
  tile("", "bad items", t.value("bad_items", int64_t{0}));
  body_ << "</div>";

  if (!s_["by_owner"].empty()) {
    body_ << "<table><tr><th>owner</th><th class=\"n\">flagged samples</th><th class=\"n\">matched"
             "</th><th class=\"n\">to review</th><th class=\"n\">works hit</th></tr>";
    for (const auto& o : s_["by_owner"]) {
      body_ << "<tr><td>" << esc(text(o, "owner").empty() ? "(no owner)" : text(o, "owner"))
            << "</td><td class=\"n\">" << fmt_int(o.value("flagged", int64_t{0}))
            << "</td><td class=\"n\">" << fmt_int(o.value("matched", int64_t{0}))
            << "</td><td class=\"n\">" << fmt_int(o.value("review", int64_t{0}))
            << "</td><td class=\"n\">" << fmt_int(o.value("works", int64_t{0})) << "</td></tr>";
    }
    body_ << "</table>";
  }
}

// Findings whose candidate has this decision, grouped by owner then work.
void Page::group_section(const std::string& decision, bool collapsed, size_t cap) {
  std::map<std::string, std::map<std::string, WorkGroup>> groups;
  size_t total = 0;
  for (const nlohmann::json& f : findings_) {
    for (const nlohmann::json& m : f["matches"]) {
      if (text(m, "decision") != decision) continue;
      WorkGroup& g = groups[text(m, "owner")][text(m, "work_id")];
      if (g.id.empty()) {
        g.id = text(m, "work_id");
        g.title = text(m, "title");
        g.owner = text(m, "owner");
        g.licence = m.value("licence", nlohmann::json::object());
      }
      g.best = std::max(g.best, number(m, "score", 0.0));
      g.cards.push_back({f, m});
      ++total;
    }
  }
  if (decision == "flag") {
    body_
        << "<h2>Flagged: copies of registered works the licence does not permit for this purpose ("
        << fmt_int(int64_t(total)) << ")</h2>";
  } else if (decision == "review") {
    body_ << "<h2>To review: near misses just above the match distance (" << fmt_int(int64_t(total))
          << ")</h2>";
  } else {
    body_ << "<h2>Permitted: copies the licence allows for this purpose ("
          << fmt_int(int64_t(total)) << ")</h2>";
  }
  if (total == 0) {
    body_ << "<p class=\"meta\">None.</p>";
    return;
  }
  // Owners with the most findings first; a large report starts collapsed so it opens at once.
  std::vector<std::pair<size_t, std::string>> owners;
  for (auto& [owner, works] : groups) {
    size_t n = 0;
    for (auto& [id, g] : works) n += g.cards.size();
    owners.push_back({n, owner});
  }
  std::sort(owners.begin(), owners.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const bool open_owners = !collapsed && owners.size() <= 20;
  const bool open_works = !collapsed && total <= 200;
  size_t shown = 0;
  for (const auto& [n, owner] : owners) {
    auto& works = groups[owner];
    body_ << "<details class=\"owner\"" << (open_owners ? " open" : "") << "><summary>"
          << esc(owner.empty() ? "(no owner)" : owner) << " <span class=\"sub\">&middot; "
          << fmt_int(int64_t(n)) << " findings, " << works.size() << " work"
          << (works.size() == 1 ? "" : "s") << "</span></summary>";
    std::vector<WorkGroup*> ordered;
    for (auto& [id, g] : works) ordered.push_back(&g);
    std::sort(ordered.begin(), ordered.end(), [](const WorkGroup* a, const WorkGroup* b) {
      return a->cards.size() != b->cards.size() ? a->cards.size() > b->cards.size() : a->id < b->id;
    });
    for (WorkGroup* g : ordered) {
      std::stable_sort(g->cards.begin(), g->cards.end(), [](const Card& a, const Card& b) {
        return number(a.match, "score", 0.0) > number(b.match, "score", 0.0);
      });
      const std::string title =
          g->title.empty() || g->title == g->id ? g->id : g->title + " (" + g->id + ")";
      body_ << "<details class=\"work\"" << (open_works ? " open" : "")
            << "><summary><svg class=\"mini\" "
            << "viewBox=\"0 0 160 160\"><use href=\"#" << work_symbol(g->id) << "\"/></svg><span>"
            << esc(title) << "<br><span class=\"sub\">" << fmt_int(int64_t(g->cards.size()))
            << " samples &middot; best score " << fmt_score(g->best)
            << " &middot; licence: " << esc(licence_summary(g->licence))
            << "</span></span></summary><div class=\"grid\">";
      size_t listed = 0;
      for (const Card& c : g->cards) {
        if (listed >= kMaxCardsPerWork || shown >= cap) break;
        body_ << card(c);
        ++listed;
        ++shown;
      }
      body_ << "</div>";
      if (listed < g->cards.size()) {
        body_ << "<div class=\"more\">" << fmt_int(int64_t(g->cards.size() - listed))
              << " more findings of this work are listed in findings.jsonl.</div>";
      }
      body_ << "</details>";
    }
    body_ << "</details>";
  }
}

void Page::errors() {
  const nlohmann::json& t = s_["totals"];
  body_ << "<h2>Bad items (" << fmt_int(t.value("bad_items", int64_t{0})) << ") and damaged units ("
        << fmt_int(t.value("damaged_units", int64_t{0})) << ")</h2>";
  const nlohmann::json& reasons = t["errors_by_reason"];
  if (reasons.empty()) {
    body_ << "<p class=\"meta\">None.</p>";
  } else {
    body_ << "<table><tr><th>reason</th><th class=\"n\">count</th></tr>";
    for (auto it = reasons.begin(); it != reasons.end(); ++it) {
      body_ << "<tr><td>" << esc(it.key()) << "</td><td class=\"n\">"
            << fmt_int(it.value().get<int64_t>()) << "</td></tr>";
    }
    body_ << "</table>";
  }
  std::ifstream f(dir_ + "/errors.jsonl");
  std::string line;
  size_t rows = 0;
  std::ostringstream table;
  while (rows < kMaxErrorRows && std::getline(f, line)) {
    const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded()) continue;
    const std::string where = e.contains("shard")  ? text(e, "member") + " in " + text(e, "shard")
                              : e.contains("path") ? text(e, "path")
                                                   : text(e, "unit");
    table << "<tr><td>" << esc(text(e, "reason")) << "</td><td><code>" << esc(where)
          << "</code></td><td>" << esc(text(e, "message")) << "</td></tr>";
    ++rows;
  }
  if (rows > 0) {
    body_ << "<details><summary>First " << rows
          << " listed in errors.jsonl</summary><table><tr><th>"
          << "reason</th><th>item</th><th>message</th></tr>" << table.str() << "</table></details>";
  }
}

Status Page::write() {
  load();
  totals();
  if (not_loaded_ > 0) {
    body_ << "<div class=\"banner bad\">This page shows the first "
          << fmt_int(int64_t(findings_.size())) << " findings; " << fmt_int(int64_t(not_loaded_))
          << " more are in findings.jsonl and counted above.</div>";
  }
  group_section("flag", false, kMaxInlineThumbs);
  group_section("review", true, kMaxReviewCards);
  group_section("allow", true, kMaxReviewCards);
  errors();
  const nlohmann::json& tp = s_["throughput"];
  body_ << "<p class=\"meta\" style=\"margin-top:28px\">Full data: summary.json, findings.jsonl ("
        << findings_.size() << " lines), errors.jsonl. Throughput:";
  for (const auto& r : tp) {
    body_ << " shard " << r.value("shard", 0) << ": " << fmt_int(r.value("items", int64_t{0}))
          << " items, " << r.value("items_per_second", 0.0) << "/s;";
  }
  body_ << " Produced by imprint scan.</p>";

  std::string html =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>imprint scan report</title><style>";
  html += kCss;
  html += "</style></head><body><svg width=\"0\" height=\"0\" style=\"position:absolute\"><defs>";
  html += defs_;
  html += "</defs></svg>";
  html += body_.str();
  html += "</body></html>\n";
  return write_file_atomic(dir_ + "/report.html", html);
}

}  // namespace

Status write_report_html(const std::string& dir, const nlohmann::json& summary) {
  return Page(dir, summary).write();
}

}  // namespace imprint::cli
