#pragma once
// `unlearn:` options of the run config (config/run_config.h).
#include <cstdint>
#include <string>
#include <vector>

#include "common/named_enum.h"

namespace uoe {

// unlearn.selection.mode (unlearn/selection.h).
enum class SelectionMode { kAttribution, kContrast, kFixed, kRandom, kLayer, kFull };
inline constexpr EnumName<SelectionMode> kSelectionModes[] = {
    {SelectionMode::kAttribution, "attribution"},
    {SelectionMode::kContrast, "contrast"},
    {SelectionMode::kFixed, "fixed"},
    {SelectionMode::kRandom, "random"},
    {SelectionMode::kLayer, "layer"},
    {SelectionMode::kFull, "full"}};
inline const char* to_string(SelectionMode mode) { return enum_name(kSelectionModes, mode); }

// unlearn.selection.scope: attribution's (or contrast's) top-M over all layers, or within one
// layer.
enum class SelectionScope { kGlobal, kLayer };
inline constexpr EnumName<SelectionScope> kSelectionScopes[] = {{SelectionScope::kGlobal, "global"},
                                                                {SelectionScope::kLayer, "layer"}};
inline const char* to_string(SelectionScope scope) { return enum_name(kSelectionScopes, scope); }

// unlearn.method (unlearn/unlearning_objective.h).
enum class UnlearnMethod { kGa, kGdiff, kNpo, kSimNpo, kRmu };
inline constexpr EnumName<UnlearnMethod> kUnlearnMethods[] = {{UnlearnMethod::kGa, "ga"},
                                                              {UnlearnMethod::kGdiff, "gdiff"},
                                                              {UnlearnMethod::kNpo, "npo"},
                                                              {UnlearnMethod::kSimNpo, "simnpo"},
                                                              {UnlearnMethod::kRmu, "rmu"}};
inline const char* to_string(UnlearnMethod method) { return enum_name(kUnlearnMethods, method); }

// `unlearn.selection:` which experts are unlearned.
struct SelectionConfig {
  SelectionMode mode = SelectionMode::kAttribution;
  SelectionScope scope = SelectionScope::kGlobal;
  int64_t top_m = 1;
  int64_t layer = -1;            // fixed / layer mode (model layer index); -1: from attribution
  std::vector<int64_t> experts;  // fixed mode: global expert ids in `layer`
  bool include_shared = false;   // also train the target layer's shared experts
};

// `unlearn:` the unlearning objective l_f + retain_weight * l_r + anchor_weight * L_anchor.
struct UnlearnConfig {
  UnlearnMethod method = UnlearnMethod::kGa;
  double retain_weight = 1.0;  // lambda (gdiff, rmu; npo/simnpo add retain NLL when > 0)
  double anchor_weight = 1.0;  // alpha; 0 disables the router anchor loss
  double npo_beta = 0.1;
  double simnpo_beta = 2.5;
  double simnpo_delta = 0.0;
  double rmu_steering = 20.0;  // c: forget activations are pushed towards c * u
  double rmu_retain_alpha = 1.0;
  int64_t rmu_layer = -1;  // -1: the target layer
  SelectionConfig selection;
};

}  // namespace uoe
