// Licence policy of a registered work, and the decision it turns a match into.
//
// A policy maps each purpose to a permission:
//   ai-training  use of the work to train or fine-tune AI models
//   commercial   use in a commercial product, service or advertisement
//   any-use      every other use (reposting, sharing, editorial)
// Permission is deny, allow, or licensed (allowed only for the named licensees).
// Unless a registrant says otherwise every purpose is denied: an unlicensed copy is what
// rights holders register works to find.
//
// JSON form (registration --policy files, `query --json` output):
//   {"ai-training": "deny", "commercial": {"licensed": ["Acme Corp"]}, "any-use": "allow"}
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace imprint {

enum class Purpose { kAiTraining = 0, kCommercial, kAnyUse };
inline constexpr int kPurposeCount = 3;
const char* purpose_name(Purpose p);
Result<Purpose> parse_purpose(std::string_view name);

enum class Permission { kDeny, kAllow, kLicensed };
const char* permission_name(Permission p);
Result<Permission> parse_permission(std::string_view name);

struct PurposeTerms {
  Permission permission = Permission::kDeny;
  std::vector<std::string> licensees;  // meaningful for kLicensed
  // Whether `licensee` is one of the named licensees (same_licensee), whatever the permission.
  bool names(std::string_view licensee) const;
  bool operator==(const PurposeTerms&) const = default;
};

// Whether two licensee names name the same party: equal once leading and trailing white space
// (space, tab, CR, LF) is trimmed and ASCII letters are folded to one case, so "acme", "Acme" and
// " ACME " are one licensee (people type a company's name as they please). Bytes beyond ASCII
// compare exactly: no Unicode case folding. A name that is empty once trimmed is nobody.
bool same_licensee(std::string_view a, std::string_view b);

class LicencePolicy {
 public:
  LicencePolicy() = default;  // every purpose denied

  const PurposeTerms& terms(Purpose p) const { return terms_[int(p)]; }
  void set(Purpose p, PurposeTerms t) { terms_[int(p)] = std::move(t); }

  // Is `licensee` (may be empty: an anonymous party) permitted to use the work for `p`?
  // Licensees are compared by same_licensee(): "acme" is "Acme".
  bool permits(Purpose p, std::string_view licensee) const;

  std::string to_json() const;
  static Result<LicencePolicy> from_json(std::string_view json);
  // One line a person can read: "ai-training: deny; commercial: licensed to Acme; any-use: allow".
  std::string summary() const;

  bool operator==(const LicencePolicy&) const = default;

 private:
  std::array<PurposeTerms, kPurposeCount> terms_{};
};

// What a match means for the party asking.
enum class MatchDecision {
  kNone,    // not a match (or a weak query reported only)
  kReview,  // a near miss: a person should look
  kAllow,   // a match the licence permits for this purpose and party
  kFlag,    // a match the licence does not permit
};
const char* decision_name(MatchDecision d);
// Severity order for a query's overall decision: flag > review > allow > none.
int decision_severity(MatchDecision d);

// How strongly a finding says "copy", whatever found it (each method measures it its own way:
// a PDQ distance, a second-stage score, copied video frames).
enum class Evidence {
  kNone,      // not even a near miss
  kNearMiss,  // within the review band, below the match line
  kCopy,      // at or past the match line (or the same bytes)
};
// The one licence rule, for every method and medium: a copy is allowed when the terms permit
// the purpose for this licensee and flagged when they do not; a near miss goes to review only
// when the use is not permitted (a permitted near miss needs nobody's attention).
const char* evidence_name(Evidence e);  // "none", "near-miss", "copy"
MatchDecision licence_decision(Evidence e, const LicencePolicy& terms, Purpose purpose,
                               std::string_view licensee);

}  // namespace imprint
