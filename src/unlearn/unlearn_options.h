#pragma once
// `unlearn:` options of the run config (config/run_config.h).
#include <cstdint>
#include <string>
#include <vector>

namespace uoe {

// `unlearn.selection:` which experts are unlearned.
struct SelectionConfig {
  std::string mode = "attribution";  // attribution | contrast | fixed | random | layer | full
  std::string scope = "global";      // attribution/contrast: top-M over all layers or in one layer
  int64_t top_m = 1;
  int64_t layer = -1;                // fixed / layer mode (model layer index); -1: from attribution
  std::vector<int64_t> experts;      // fixed mode: global expert ids in `layer`
  bool include_shared = false;       // also train the target layer's shared experts
};

// `unlearn:` the unlearning objective l_f + retain_weight * l_r + anchor_weight * L_anchor.
struct UnlearnConfig {
  std::string method = "ga";  // ga | gdiff | npo | simnpo | rmu
  double retain_weight = 1.0;  // lambda (gdiff, rmu; npo/simnpo add retain NLL when > 0)
  double anchor_weight = 1.0;  // alpha; 0 disables the router anchor loss
  double npo_beta = 0.1;
  double simnpo_beta = 2.5;
  double simnpo_delta = 0.0;
  double rmu_steering = 20.0;  // c: forget activations are pushed towards c * u
  double rmu_retain_alpha = 1.0;
  int64_t rmu_layer = -1;      // -1: the target layer
  SelectionConfig selection;
};

}  // namespace uoe
