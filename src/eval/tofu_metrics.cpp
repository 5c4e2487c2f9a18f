#include "eval/tofu_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "common/check.h"
#include "eval/evaluation.h"

namespace uoe {

std::vector<std::string> rouge_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char raw : text) {
    const char c = (raw >= 'A' && raw <= 'Z') ? char(raw - 'A' + 'a') : raw;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      word += c;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

double rouge_l_recall_text(const std::string& generated, const std::string& reference) {
  // Words as ids, so that the token-level ROUGE-L of eval/evaluation.h applies.
  std::map<std::string, int64_t> ids;
  auto to_ids = [&](const std::string& text) {
    std::vector<int64_t> out;
    for (const std::string& word : rouge_words(text))
      out.push_back(ids.emplace(word, ids.size()).first->second);
    return out;
  };
  const std::vector<int64_t> ref = to_ids(reference), gen = to_ids(generated);
  return gen.empty() ? 0.0 : rouge_l_recall(gen, ref);
}

KsResult ks_2samp_exact(const std::vector<double>& a, const std::vector<double>& b) {
  const int64_t n = int64_t(a.size()), m = int64_t(b.size());
  UOE_CHECK(n > 0 && m > 0, "KS test needs two non-empty samples, got sizes ", n, " and ", m);
  UOE_CHECK(n + m <= 10000, "exact KS test supports |a| + |b| <= 10000, got ", n + m);
  std::vector<double> x = a, y = b;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  // D * n * m as an integer: at every sample value, |i * m - j * n| with i, j the counts <= value.
  int64_t d = 0;
  for (int64_t i = 0, j = 0; i < n || j < m;) {
    const double v = (j >= m || (i < n && x[i] <= y[j])) ? x[i] : y[j];
    while (i < n && x[i] <= v) ++i;
    while (j < m && y[j] <= v) ++j;
    d = std::max(d, std::abs(i * m - j * n));
  }
  KsResult result;
  result.statistic = double(d) / double(n * m);
  if (d == 0) return result;
  // Paths from (0,0) to (n,m) (each merged order of the samples, equally likely under the null)
  // that reach a point with |i*m - j*n| >= d. inside[j]: paths to (i, j) that have not; a path's
  // first such point (i, j) is counted once, times the paths from there to the end.
  auto outside = [&](int64_t i, int64_t j) { return std::abs(i * m - j * n) >= d; };
  auto log_choose = [](int64_t total, int64_t k) {
    return std::lgamma(double(total + 1)) - std::lgamma(double(k + 1)) -
           std::lgamma(double(total - k + 1));
  };
  const long double log_all = log_choose(n + m, n);
  std::vector<long double> inside(m + 1, 0.0L), previous(m + 1, 0.0L);
  long double p = 0.0L;
  for (int64_t i = 0; i <= n; ++i) {
    for (int64_t j = 0; j <= m; ++j) {
      const long double arriving =
          (i == 0 && j == 0) ? 1.0L : (i > 0 ? previous[j] : 0.0L) + (j > 0 ? inside[j - 1] : 0.0L);
      if (outside(i, j)) {
        inside[j] = 0.0L;
        if (arriving > 0.0L) {
          p += std::exp(std::log(arriving) + log_choose(n - i + m - j, n - i) - log_all);
        }
      } else {
        inside[j] = arriving;
      }
    }
    std::swap(inside, previous);
  }
  result.p_value = double(std::min(1.0L, std::max(0.0L, p)));
  return result;
}

std::vector<double> truth_ratios(const std::vector<double>& paraphrased_nll,
                                 const std::vector<std::vector<double>>& perturbed_nll) {
  UOE_CHECK(paraphrased_nll.size() == perturbed_nll.size(), "truth ratio: ", paraphrased_nll.size(),
            " paraphrased answers but ", perturbed_nll.size(), " perturbed-answer groups");
  std::vector<double> ratios;
  for (size_t q = 0; q < paraphrased_nll.size(); ++q) {
    UOE_CHECK(!perturbed_nll[q].empty(), "truth ratio: question ", q, " has no perturbed answer");
    double mean = 0;
    for (double v : perturbed_nll[q]) mean += v;
    mean /= double(perturbed_nll[q].size());
    ratios.push_back(std::exp(mean - paraphrased_nll[q]));
  }
  return ratios;
}

double forget_truth_ratio_score(const std::vector<double>& ratios) {
  double sum = 0;
  for (double r : ratios) sum += std::min(r, 1.0 / r);
  return ratios.empty() ? 0.0 : sum / double(ratios.size());
}

double retain_truth_ratio_score(const std::vector<double>& ratios) {
  double sum = 0;
  for (double r : ratios) sum += std::max(0.0, 1.0 - 1.0 / r);
  return ratios.empty() ? 0.0 : sum / double(ratios.size());
}

double harmonic_mean(const std::vector<double>& values) {
  UOE_CHECK(!values.empty(), "harmonic mean of no values");
  double inverse_sum = 0;
  for (double v : values) {
    if (v <= 0) return 0.0;
    inverse_sum += 1.0 / v;
  }
  return double(values.size()) / inverse_sum;
}

}  // namespace uoe
