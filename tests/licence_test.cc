// Licence policies: every purpose x permission x licensee combination, and the JSON form.
#include <gtest/gtest.h>

#include "licence.h"

namespace imprint {
namespace {

TEST(Licence, DefaultDeniesEveryPurpose) {
  LicencePolicy p;
  for (int i = 0; i < kPurposeCount; ++i) {
    EXPECT_FALSE(p.permits(Purpose(i), ""));
    EXPECT_FALSE(p.permits(Purpose(i), "Acme"));
  }
}

TEST(Licence, EveryPurposePermissionAndLicenseeCombination) {
  for (int target = 0; target < kPurposeCount; ++target) {
    for (Permission perm : {Permission::kDeny, Permission::kAllow, Permission::kLicensed}) {
      LicencePolicy p;
      PurposeTerms t;
      t.permission = perm;
      if (perm == Permission::kLicensed) t.licensees = {"Acme", "Beta Ltd"};
      p.set(Purpose(target), t);
      for (int asked = 0; asked < kPurposeCount; ++asked) {
        for (const std::string licensee : {"", "Acme", "Beta Ltd", "Mallory", "Acme Corp"}) {
          bool want = false;
          if (asked == target) {
            want = perm == Permission::kAllow ||
                   (perm == Permission::kLicensed && (licensee == "Acme" || licensee == "Beta Ltd"));
          }
          EXPECT_EQ(p.permits(Purpose(asked), licensee), want)
              << purpose_name(Purpose(target)) << "=" << permission_name(perm) << " asked "
              << purpose_name(Purpose(asked)) << " by '" << licensee << "'";
        }
      }
    }
  }
}

// Issue 25: users expect `acme` to be `Acme`. Licensees compare without ASCII case and without
// the white space around them; anything else still tells two parties apart.
TEST(Licence, LicenseesCompareWithoutCaseOrSurroundingSpace) {
  LicencePolicy p;
  p.set(Purpose::kCommercial, {Permission::kLicensed, {"Acme", " Beta Ltd\t", "Café Noir"}});
  for (const char* same : {"Acme", "acme", "ACME", "aCmE", " acme", "acme \r\n", "\tAcme ",
                           "beta ltd", "BETA LTD", "  Beta Ltd", "Café Noir", "café noir"}) {
    EXPECT_TRUE(p.permits(Purpose::kCommercial, same)) << "'" << same << "'";
    EXPECT_FALSE(p.permits(Purpose::kAiTraining, same)) << "'" << same << "'";  // still denied
  }
  // Beyond ASCII bytes compare exactly ("CAFÉ" is not folded), and inner space counts.
  for (const char* other : {"", " ", "\t\n", "Acme Corp", "Acm", "Acmee", "BetaLtd", "Beta  Ltd",
                            "CAFÉ NOIR", "Mallory"}) {
    EXPECT_FALSE(p.permits(Purpose::kCommercial, other)) << "'" << other << "'";
  }
  EXPECT_TRUE(same_licensee("Acme", "aCME "));
  EXPECT_FALSE(same_licensee(" ", " "));  // a blank name is nobody, even next to another
  EXPECT_FALSE(same_licensee("", ""));
}

TEST(Licence, JsonRoundTripAndSummary) {
  Result<LicencePolicy> p = LicencePolicy::from_json(
      R"({"ai-training": "deny", "commercial": {"licensed": ["Acme", "Beta"]}, "any-use": "allow"})");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->permits(Purpose::kAnyUse, ""));
  EXPECT_TRUE(p->permits(Purpose::kCommercial, "Beta"));
  EXPECT_FALSE(p->permits(Purpose::kCommercial, "Gamma"));
  Result<LicencePolicy> again = LicencePolicy::from_json(p->to_json());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *p);
  EXPECT_EQ(p->summary(), "ai-training: deny; commercial: licensed to Acme, Beta; any-use: allow");
  // Purposes left out keep the default (deny).
  Result<LicencePolicy> partial = LicencePolicy::from_json(R"({"any-use": "allow"})");
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->permits(Purpose::kAiTraining, ""));
}

TEST(Licence, BadJsonIsAClearError) {
  for (const char* bad : {"", "[]", "{\"ai-training\": \"maybe\"}", "{\"painting\": \"deny\"}",
                          "{\"commercial\": \"licensed\"}", "{\"commercial\": {\"licensed\": [1]}}",
                          "{\"commercial\": {\"licensed\": [\"\"]}}", "{not json"}) {
    Result<LicencePolicy> p = LicencePolicy::from_json(bad);
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Licence, DecisionNamesAndSeverity) {
  EXPECT_STREQ(decision_name(MatchDecision::kFlag), "flag");
  EXPECT_GT(decision_severity(MatchDecision::kFlag), decision_severity(MatchDecision::kReview));
  EXPECT_GT(decision_severity(MatchDecision::kReview), decision_severity(MatchDecision::kAllow));
  EXPECT_GT(decision_severity(MatchDecision::kAllow), decision_severity(MatchDecision::kNone));
}

}  // namespace
}  // namespace imprint
