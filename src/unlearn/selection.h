#pragma once
// Which parameters SEUF unlearns (DESIGN.md section 1): the selected experts plus the full router
// of each target layer; or everything (`full`, the standard-unlearning baseline).
#include <nlohmann/json.hpp>

#include "eval/routing_metrics.h"
#include "model/causal_lm.h"
#include "unlearn/attribution.h"
#include "unlearn/unlearn_options.h"

namespace uoe {

struct Selection {
  SelectionMode mode = SelectionMode::kAttribution;
  bool full = false;                  // whole model trainable
  std::vector<ExpertTarget> experts;  // ordered by decreasing attribution where applicable
  bool include_shared = false;

  std::vector<int64_t> target_layers() const;  // distinct layers of `experts`, ascending
  std::vector<int64_t> experts_in(int64_t layer) const;
  nlohmann::json to_json() const;
};

// `attribution` may be null unless the mode needs it (attribution; layer without a layer index).
Selection select_targets(const SelectionConfig& config, const AttributionResult* attribution,
                         const ModelConfig& model, uint64_t seed);

// Freezes everything, then makes the selection trainable (on every rank identically; experts on
// their owners only). Returns this rank's trainable parameters split for gradient sync.
struct TrainableSet {
  std::vector<torch::Tensor> dense;   // routers (and shared experts) of the target layers
  std::vector<torch::Tensor> expert;  // this rank's selected experts
  std::vector<std::string> names;     // every trainable tensor name in the whole model
  int64_t num_elements = 0;           // over the whole model, each expert counted once
};
TrainableSet apply_selection(CausalLM& model, const Selection& selection);

}  // namespace uoe
