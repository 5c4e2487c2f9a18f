#pragma once
// TOFU evaluation of a model (metrics defined in eval/tofu_metrics.h) on the forget and retain
// sets of `tofu:`, sharded over ranks. Result:
//   {"forget": {questions, answer_prob, rouge_l_recall, truth_ratio, truth_ratios: [R per
//   question]},
//    "retain": {... truth_ratio is the retain score ...},
//    "model_utility", and with tofu.reference: "forget_quality", "log10_forget_quality"}
#include <nlohmann/json.hpp>

#include "eval/eval_options.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

// Collective over the world. Reads the datasets of `tofu` (InputError naming the file when a
// set's sizes disagree) and, with tofu.reference, the retain model's result.
nlohmann::json evaluate_tofu(CausalLM& model, const TofuConfig& tofu, const ProcessGroups& groups,
                             int64_t batch_size);

}  // namespace uoe
