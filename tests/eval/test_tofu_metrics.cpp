// TOFU metrics against the implementations TOFU uses: ROUGE-L recall from rouge_score and the KS
// p-value from scipy.stats.ks_2samp, recorded on fixed inputs by tools/make_tofu_metric_fixtures.py
// (tests/unlearn/data/tofu_metrics.json); truth-ratio scores and the harmonic mean by hand.
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "common/check.h"
#include "eval/tofu_metrics.h"
#include "test_utils.h"

namespace uoe {
namespace {

nlohmann::json fixture() {
  std::ifstream in(std::string(UOE_TOFU_FIXTURE));
  EXPECT_TRUE(in.good()) << "cannot read " << UOE_TOFU_FIXTURE;
  return nlohmann::json::parse(in);
}

TEST(TofuMetrics, RougeLRecallEqualsRougeScore) {
  const auto cases = fixture().at("rouge_l");
  ASSERT_GE(cases.size(), 8u);
  for (const auto& c : cases) {
    const auto generated = c.at("generated").get<std::string>();
    const auto reference = c.at("reference").get<std::string>();
    EXPECT_NEAR(rouge_l_recall_text(generated, reference), c.at("recall").get<double>(), 1e-12)
        << "generated '" << generated << "', reference '" << reference << "'";
  }
}

TEST(TofuMetrics, RougeWords) {
  EXPECT_EQ(rouge_words("The author's NAME, 2001!"),
            (std::vector<std::string>{"the", "author", "s", "name", "2001"}));
  EXPECT_TRUE(rouge_words(" ... ").empty());
}

TEST(TofuMetrics, KsTestEqualsScipy) {
  const auto cases = fixture().at("ks_2samp");
  ASSERT_GE(cases.size(), 5u);
  for (const auto& c : cases) {
    const auto result =
        ks_2samp_exact(c.at("a").get<std::vector<double>>(), c.at("b").get<std::vector<double>>());
    const double want = c.at("p_value").get<double>();
    EXPECT_NEAR(result.statistic, c.at("statistic").get<double>(), 1e-12) << c.at("name");
    // Relative agreement, also for p-values far below 1 (forget quality is read as log10 p).
    EXPECT_NEAR(std::log10(result.p_value), std::log10(want), 1e-6) << c.at("name");
  }
}

TEST(TofuMetrics, KsTestRejectsEmptySamples) {
  EXPECT_THROW(ks_2samp_exact({}, {1.0}), InputError);
}

TEST(TofuMetrics, TruthRatioScores) {
  // R = exp(mean perturbed NLL - paraphrased NLL): exp(1), exp(0), exp(-1).
  const auto ratios = truth_ratios({1.0, 2.0, 3.0}, {{1.5, 2.5}, {2.0}, {2.0, 2.0, 2.0}});
  ASSERT_EQ(ratios.size(), 3u);
  EXPECT_NEAR(ratios[0], std::exp(1.0), 1e-12);
  EXPECT_NEAR(ratios[1], 1.0, 1e-12);
  EXPECT_NEAR(ratios[2], std::exp(-1.0), 1e-12);
  EXPECT_NEAR(forget_truth_ratio_score(ratios), (2 * std::exp(-1.0) + 1.0) / 3.0, 1e-12);
  EXPECT_NEAR(retain_truth_ratio_score(ratios), (1.0 - std::exp(-1.0)) / 3.0, 1e-12);
  EXPECT_THROW(truth_ratios({1.0}, {}), InputError);
}

TEST(TofuMetrics, HarmonicMean) {
  EXPECT_NEAR(harmonic_mean({1.0, 0.5, 0.25}), 3.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(harmonic_mean({0.9, 0.0}), 0.0);
}

}  // namespace
}  // namespace uoe
