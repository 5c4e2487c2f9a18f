#include "eval/tofu_eval.h"

#include <cmath>
#include <fstream>

#include "common/check.h"
#include "data/token_dataset.h"
#include "eval/evaluation.h"
#include "eval/generation.h"
#include "eval/tofu_metrics.h"
#include "tokenizer/hf_tokenizer.h"
#include "train/batching.h"

namespace uoe {
namespace {

// Scored tokens of a sequence (labels are the tokens shifted by one, see make_batch).
int64_t scored_tokens(const TokenSequence& s) {
  int64_t count = 0;
  for (size_t i = 1; i < s.loss_mask.size(); ++i) count += s.loss_mask[i] ? 1 : 0;
  return count;
}

// Mean answer-token NLL of every sequence: [N] on every rank. Collective.
std::vector<double> normalised_nll(CausalLM& model, const TokenDataset& data,
                                   const ProcessGroups& groups, int64_t batch_size) {
  const torch::Tensor logp = answer_log_probs(model, data, groups, batch_size);  // [N]
  std::vector<double> nll(data.size());
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t count = scored_tokens(data.get(i));
    UOE_CHECK(count > 0, "'", data.path(), "' sequence ", i, " has no scored answer token");
    nll[i] = -logp[i].item<double>() / double(count);
  }
  return nll;
}

// Mean ROUGE-L recall of the greedy answers (decoded, up to eos) against the reference answers,
// over the first `questions` sequences of `data`.
double greedy_rouge(CausalLM& model, const TokenDataset& data, int64_t questions,
                    const HfTokenizer& tokenizer, const ProcessGroups& groups, int64_t batch_size,
                    int64_t max_new_tokens) {
  const int64_t eos = tokenizer.eos_id() ? int64_t(*tokenizer.eos_id()) : -1;
  auto to_ids = [](auto begin, auto end) { return std::vector<int32_t>(begin, end); };
  auto sum = torch::zeros({1}, torch::kFloat64);
  for (const auto& indices :
       shard_batches(questions, groups.rank(), groups.world_size(), batch_size)) {
    std::vector<std::vector<int64_t>> prompts;
    std::vector<std::string> references;
    for (int64_t index : indices) {
      const TokenSequence s = data.get(index);
      size_t first = 1;  // the prompt: the tokens before the first scored one
      while (first < s.tokens.size() && !s.loss_mask[first]) ++first;
      prompts.emplace_back(s.tokens.begin(), s.tokens.begin() + first);
      references.push_back(
          tokenizer.decode(to_ids(s.tokens.begin() + first, s.tokens.end()), true));
    }
    const auto generated = greedy_generate(model, prompts, max_new_tokens, groups, eos);
    for (size_t b = 0; b < indices.size(); ++b) {
      const std::string answer =
          tokenizer.decode(to_ids(generated[b].begin(), generated[b].end()), true);
      sum[0] += rouge_l_recall_text(answer, references[b]);
    }
  }
  groups.world().control->all_reduce(sum, ReduceOp::kSum);
  return sum[0].item<double>() / double(questions);
}

struct TofuSet {
  TokenDataset answer, paraphrased, perturbed;
  int64_t perturbed_per_question = 0;
};

TofuSet load_set(const std::string& answer, const std::string& paraphrased,
                 const std::string& perturbed) {
  TofuSet set{TokenDataset(answer), TokenDataset(paraphrased), TokenDataset(perturbed), 0};
  const int64_t n = set.answer.size();
  UOE_CHECK(set.paraphrased.size() == n, "'", paraphrased, "' has ", set.paraphrased.size(),
            " sequences, '", answer, "' ", n, " (one paraphrased answer per question)");
  UOE_CHECK(set.perturbed.size() > 0 && set.perturbed.size() % n == 0, "'", perturbed, "' has ",
            set.perturbed.size(), " sequences, not a multiple of the ", n, " questions of '",
            answer, "'");
  set.perturbed_per_question = set.perturbed.size() / n;
  return set;
}

nlohmann::json evaluate_set(CausalLM& model, const TofuSet& set, bool is_forget,
                            const HfTokenizer& tokenizer, const ProcessGroups& groups,
                            int64_t batch_size, const TofuConfig& tofu) {
  const int64_t n = set.answer.size(), k = set.perturbed_per_question;
  const int64_t max_new_tokens = tofu.max_new_tokens;
  const int64_t rouge_questions = tofu.rouge_questions > 0 ? std::min(tofu.rouge_questions, n) : n;
  int64_t longest_prompt = 0;
  for (int64_t i = 0; i < n; ++i) {
    const TokenSequence s = set.answer.get(i);
    longest_prompt = std::max<int64_t>(longest_prompt, int64_t(s.tokens.size()) - scored_tokens(s));
  }
  const int64_t positions = model->config().max_position_embeddings;
  UOE_CHECK(longest_prompt + max_new_tokens <= positions, "'", set.answer.path(),
            "': prompts of up to ", longest_prompt,
            " tokens plus tofu.max_new_tokens=", max_new_tokens,
            " exceed model.max_position_embeddings=", positions);
  const std::vector<double> answer_nll = normalised_nll(model, set.answer, groups, batch_size);
  const std::vector<double> paraphrased_nll =
      normalised_nll(model, set.paraphrased, groups, batch_size);
  const std::vector<double> flat = normalised_nll(model, set.perturbed, groups, batch_size);
  std::vector<std::vector<double>> perturbed_nll(n);
  for (int64_t i = 0; i < n; ++i)
    perturbed_nll[i].assign(flat.begin() + i * k, flat.begin() + (i + 1) * k);
  double probability = 0;
  for (double v : answer_nll) probability += std::exp(-v);
  const std::vector<double> ratios = truth_ratios(paraphrased_nll, perturbed_nll);
  return {{"questions", n},
          {"answer_prob", probability / double(n)},
          {"rouge_l_recall", greedy_rouge(model, set.answer, rouge_questions, tokenizer, groups,
                                          batch_size, max_new_tokens)},
          {"rouge_questions", rouge_questions},
          {"truth_ratio",
           is_forget ? forget_truth_ratio_score(ratios) : retain_truth_ratio_score(ratios)},
          {"truth_ratios", ratios}};
}

std::vector<double> reference_truth_ratios(const std::string& path) {
  std::ifstream in(path);
  UOE_CHECK(in.good(), "cannot read tofu.reference '", path, "'");
  try {
    const auto j = nlohmann::json::parse(in);
    const auto& tofu = j.contains("tofu") ? j.at("tofu") : j;
    return tofu.at("forget").at("truth_ratios").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(c10::str("tofu.reference '", path,
                              "' is not a TOFU result with forget.truth_ratios (", e.what(), ")"));
  }
}

}  // namespace

nlohmann::json evaluate_tofu(CausalLM& model, const TofuConfig& tofu, const ProcessGroups& groups,
                             int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const HfTokenizer tokenizer = HfTokenizer::load(tofu.tokenizer);
  const TofuSet forget =
      load_set(tofu.forget_answer, tofu.forget_paraphrased, tofu.forget_perturbed);
  const TofuSet retain =
      load_set(tofu.retain_answer, tofu.retain_paraphrased, tofu.retain_perturbed);
  std::vector<double> reference;
  if (!tofu.reference.empty()) reference = reference_truth_ratios(tofu.reference);
  nlohmann::json result;
  result["forget"] = evaluate_set(model, forget, true, tokenizer, groups, batch_size, tofu);
  result["retain"] = evaluate_set(model, retain, false, tokenizer, groups, batch_size, tofu);
  const auto& r = result["retain"];
  result["model_utility"] =
      harmonic_mean({r["answer_prob"].get<double>(), r["rouge_l_recall"].get<double>(),
                     r["truth_ratio"].get<double>()});
  if (!reference.empty()) {
    const auto ks =
        ks_2samp_exact(result["forget"]["truth_ratios"].get<std::vector<double>>(), reference);
    result["forget_quality"] = ks.p_value;
    result["log10_forget_quality"] = std::log10(std::max(ks.p_value, 1e-300));
    result["ks_statistic"] = ks.statistic;
  }
  return result;
}

}  // namespace uoe
