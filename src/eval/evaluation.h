#pragma once
// Evaluation of a (possibly unlearned) model, sharded over ranks and reduced:
//   QA sets      : answer NLL and perplexity, length-normalised answer probability
//                  (mean over sequences of exp(mean answer-token log p)), ROUGE-L recall of greedy
//                  answers, and routing metrics: share of tokens whose top-K contains the target
//                  expert at the target layer, and top-K overlap with the original model's routing
//   multiple choice: accuracy exactly as lm-evaluation-harness `acc` (eval/multiple_choice.h),
//                  with the tokenizer of dataset.tokenizer (the model's tokenizer.json, or the
//                  word vocabulary of the built-in data)
#include <nlohmann/json.hpp>

#include <map>
#include <optional>

#include "data/dataset_options.h"
#include "data/token_dataset.h"
#include "eval/multiple_choice.h"
#include "eval/routing_metrics.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

// Top-K expert ids per evaluated sequence (this rank's shard), to compare routing before/after.
struct RoutingTrace {
  std::map<int64_t, torch::Tensor> topk;  // sequence index -> [L_moe, tokens, K] int64
};

struct EvalOptions {
  int64_t batch_size = 16;
  int64_t max_new_tokens = 4;
  std::optional<ExpertTarget> target;  // for the target-selection rate
  // Non-empty: rank 0 writes the per-item multiple-choice results to "<samples_prefix><set>.jsonl"
  // (write_mc_samples), set = forget_mc | retain_mc.
  std::string samples_prefix;
};

// Collective over the world. `record` (optional) receives this model's routing; `original`
// (optional) is compared with it for the top-K overlap.
nlohmann::json evaluate_qa(CausalLM& model, const TokenDataset& data, const ProcessGroups& groups,
                           const EvalOptions& options, RoutingTrace* record,
                           const RoutingTrace* original);

// log p(scored tokens | preceding tokens) of every sequence of `data`, [N] float64 on every rank.
// Collective. NPO computes its reference with it once before training; MC scoring uses it too.
torch::Tensor answer_log_probs(CausalLM& model, const TokenDataset& data,
                               const ProcessGroups& groups, int64_t batch_size);

// Everything `uoe eval` (and `uoe unlearn` before and after training) measures.
struct EvalSuite {
  std::shared_ptr<TokenDataset> forget, retain;  // QA sets (optional)
  std::optional<McSet> forget_mc, retain_mc;     // MC probes, tokenized (optional)
  RoutingTrace forget_trace, retain_trace;       // routing of the first evaluated model

  // Loads the files named in `dataset:` (missing names are skipped) and tokenizes the MC probes
  // with dataset.tokenizer; InputError naming dataset.tokenizer when it does not fit a model of
  // `model_vocab_size` embedding rows (McSet::load).
  static EvalSuite load(const DatasetConfig& dataset, int64_t model_vocab_size);
};

// Evaluates every set of the suite: {"forget": {...}, "retain": {...}, "forget_mc": {...}, ...}.
// With `record_routing`, the routing is stored in the suite; otherwise top-K overlap is reported
// against the stored routing when present.
nlohmann::json evaluate_suite(CausalLM& model, EvalSuite& suite, const ProcessGroups& groups,
                              const EvalOptions& options, bool record_routing);

// Longest common subsequence length / reference length (0 for an empty reference).
double rouge_l_recall(const std::vector<int64_t>& generated, const std::vector<int64_t>& reference);

}  // namespace uoe
