#pragma once
// Names of routed-expert tensors: layers.<l>.mlp.experts.<global id>.<rest>, e.g.
// layers.3.mlp.experts.17.up_proj.weight (see model/causal_lm.h).
#include <cstdint>
#include <optional>
#include <string>

#include "model/model_config.h"

namespace uoe {

struct ExpertName {
  int64_t layer = 0;
  int64_t id = 0;
  std::string rest;  // "up_proj.weight"
  std::string str() const;
};

// The parts of a routed-expert tensor name, or nullopt for any other name.
std::optional<ExpertName> parse_expert_name(const std::string& name);

// Checks that `name` can be a routed-expert tensor of `config` (whoever owns it); InputError
// starting with `context` otherwise.
ExpertName check_expert_name(const std::string& name, const ModelConfig& config,
                             const std::string& context);

}  // namespace uoe
