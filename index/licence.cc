#include "licence.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace imprint {

const char* purpose_name(Purpose p) {
  switch (p) {
    case Purpose::kAiTraining: return "ai-training";
    case Purpose::kCommercial: return "commercial";
    case Purpose::kAnyUse: return "any-use";
  }
  return "unknown";
}

Result<Purpose> parse_purpose(std::string_view name) {
  for (int i = 0; i < kPurposeCount; ++i) {
    if (name == purpose_name(Purpose(i))) return Purpose(i);
  }
  return invalid_argument("unknown purpose '" + std::string(name) +
                          "' (expected ai-training, commercial or any-use)");
}

const char* permission_name(Permission p) {
  switch (p) {
    case Permission::kDeny: return "deny";
    case Permission::kAllow: return "allow";
    case Permission::kLicensed: return "licensed";
  }
  return "unknown";
}

Result<Permission> parse_permission(std::string_view name) {
  if (name == "deny") return Permission::kDeny;
  if (name == "allow") return Permission::kAllow;
  if (name == "licensed") return Permission::kLicensed;
  return invalid_argument("unknown permission '" + std::string(name) +
                          "' (expected deny, allow or licensed)");
}

namespace {

std::string_view trim_space(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t a = s.find_first_not_of(kSpace);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(kSpace) - a + 1);
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

}  // namespace

bool same_licensee(std::string_view a, std::string_view b) {
  a = trim_space(a);
  b = trim_space(b);
  return !a.empty() && a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool PurposeTerms::names(std::string_view licensee) const {
  return std::any_of(licensees.begin(), licensees.end(),
                     [&](const std::string& name) { return same_licensee(name, licensee); });
}

bool LicencePolicy::permits(Purpose p, std::string_view licensee) const {
  const PurposeTerms& t = terms(p);
  switch (t.permission) {
    case Permission::kAllow: return true;
    case Permission::kDeny: return false;
    case Permission::kLicensed:
      return t.names(licensee);
  }
  return false;
}

std::string LicencePolicy::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (int i = 0; i < kPurposeCount; ++i) {
    const PurposeTerms& t = terms_[i];
    if (t.permission == Permission::kLicensed) {
      j[purpose_name(Purpose(i))] = {{"licensed", t.licensees}};
    } else {
      j[purpose_name(Purpose(i))] = permission_name(t.permission);
    }
  }
  return j.dump();
}

Result<LicencePolicy> LicencePolicy::from_json(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("licence policy is not valid JSON");
  if (!j.is_object()) return invalid_argument("licence policy must be a JSON object");
  LicencePolicy policy;
  for (auto it = j.begin(); it != j.end(); ++it) {
    Result<Purpose> purpose = parse_purpose(it.key());
    if (!purpose.ok()) return purpose.status();
    PurposeTerms t;
    const nlohmann::json& v = it.value();
    if (v.is_string()) {
      Result<Permission> p = parse_permission(v.get<std::string>());
      if (!p.ok()) return p.status();
      if (*p == Permission::kLicensed) {
        return invalid_argument(std::string(purpose_name(*purpose)) +
                                ": 'licensed' needs licensees: {\"licensed\": [\"name\", ...]}");
      }
      t.permission = *p;
    } else if (v.is_object() && v.size() == 1 && v.contains("licensed") && v["licensed"].is_array()) {
      t.permission = Permission::kLicensed;
      for (const auto& name : v["licensed"]) {
        if (!name.is_string() || name.get<std::string>().empty()) {
          return invalid_argument(std::string(purpose_name(*purpose)) +
                                  ": licensees must be non-empty strings");
        }
        t.licensees.push_back(name.get<std::string>());
      }
    } else {
      return invalid_argument(std::string(purpose_name(*purpose)) +
                              ": expected \"deny\", \"allow\" or {\"licensed\": [names]}");
    }
    policy.set(*purpose, std::move(t));
  }
  return policy;
}

std::string LicencePolicy::summary() const {
  std::string s;
  for (int i = 0; i < kPurposeCount; ++i) {
    const PurposeTerms& t = terms_[i];
    if (!s.empty()) s += "; ";
    s += purpose_name(Purpose(i));
    s += ": ";
    if (t.permission == Permission::kLicensed) {
      s += "licensed to ";
      for (size_t k = 0; k < t.licensees.size(); ++k) s += (k ? ", " : "") + t.licensees[k];
    } else {
      s += permission_name(t.permission);
    }
  }
  return s;
}

const char* decision_name(MatchDecision d) {
  switch (d) {
    case MatchDecision::kNone: return "none";
    case MatchDecision::kReview: return "review";
    case MatchDecision::kAllow: return "allow";
    case MatchDecision::kFlag: return "flag";
  }
  return "unknown";
}

const char* evidence_name(Evidence e) {
  switch (e) {
    case Evidence::kNone: return "none";
    case Evidence::kNearMiss: return "near-miss";
    case Evidence::kCopy: return "copy";
  }
  return "unknown";
}

MatchDecision licence_decision(Evidence e, const LicencePolicy& terms, Purpose purpose,
                               std::string_view licensee) {
  if (e == Evidence::kNone) return MatchDecision::kNone;
  const bool permitted = terms.permits(purpose, licensee);
  if (e == Evidence::kCopy) return permitted ? MatchDecision::kAllow : MatchDecision::kFlag;
  return permitted ? MatchDecision::kNone : MatchDecision::kReview;
}

int decision_severity(MatchDecision d) {
  switch (d) {
    case MatchDecision::kNone: return 0;
    case MatchDecision::kAllow: return 1;
    case MatchDecision::kReview: return 2;
    case MatchDecision::kFlag: return 3;
  }
  return 0;
}

}  // namespace imprint
