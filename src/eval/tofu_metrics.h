#pragma once
// TOFU metrics (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs"), from
// per-question answer scores:
//   answer probability  mean over questions of exp(-mean answer-token NLL)
//   ROUGE-L recall      of the greedy answer against the reference answer, on words as
//                       rouge_score tokenizes them (lower-cased, [a-z0-9]+ runs), without stemming
//   truth ratio         R = exp(mean_k NLL(perturbed_k) - NLL(paraphrased)), NLLs length-normalised
//                       (the ratio TOFU's code stores); forget sets report mean(min(R, 1/R)),
//                       retain sets mean(max(0, 1 - 1/R))
//   forget quality      p-value of the two-sample Kolmogorov-Smirnov test between the forget-set
//                       R values of the unlearned model and of the retain model
//   model utility       harmonic mean of the retain answer probability, ROUGE-L and truth ratio
#include <string>
#include <vector>

namespace uoe {

// Words of `text` as rouge_score's default tokenizer yields them (ASCII lower-case, runs of
// [a-z0-9]; every other byte separates words).
std::vector<std::string> rouge_words(const std::string& text);

// ROUGE-L recall = LCS(words) / #reference words; 0 when either side has no words (rouge_score).
double rouge_l_recall_text(const std::string& generated, const std::string& reference);

// Two-sided two-sample Kolmogorov-Smirnov test: the statistic D = sup |F_a - F_b| and its exact
// p-value P(D' >= D) under the null (scipy.stats.ks_2samp, method="exact"), by counting lattice
// paths; checked for |a| + |b| <= 10000 (what long double holds), InputError beyond or when empty.
struct KsResult {
  double statistic = 0;
  double p_value = 1;
};
KsResult ks_2samp_exact(const std::vector<double>& a, const std::vector<double>& b);

// Per-question truth ratio R from length-normalised NLLs: paraphrased [N], perturbed [N x K].
std::vector<double> truth_ratios(const std::vector<double>& paraphrased_nll,
                                 const std::vector<std::vector<double>>& perturbed_nll);
double forget_truth_ratio_score(const std::vector<double>& ratios);  // mean(min(R, 1/R))
double retain_truth_ratio_score(const std::vector<double>& ratios);  // mean(max(0, 1 - 1/R))

// Harmonic mean of positive values (0 when any value is 0).
double harmonic_mean(const std::vector<double>& values);

}  // namespace uoe
