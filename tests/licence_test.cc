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
        for (const std::string licensee : {"", "Acme", "Beta Ltd", "Mallory", "acme"}) {
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
