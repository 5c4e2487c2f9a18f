#include "checkpoint/expert_names.h"

#include <regex>

#include "common/check.h"

namespace uoe {

std::string ExpertName::str() const {
  return c10::str("layers.", layer, ".mlp.experts.", id, ".", rest);
}

std::optional<ExpertName> parse_expert_name(const std::string& name) {
  static const std::regex pattern(R"(layers\.(\d+)\.mlp\.experts\.(\d+)\.(.+))");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  return ExpertName{std::stoll(match[1]), std::stoll(match[2]), match[3]};
}

ExpertName check_expert_name(const std::string& name, const ModelConfig& config,
                             const std::string& context) {
  const auto parsed = parse_expert_name(name);
  UOE_CHECK(parsed && parsed->layer < config.num_hidden_layers &&
                config.is_moe_layer(parsed->layer) && parsed->id < config.num_experts,
            context, ": tensor '", name, "' is not a routed expert of this model (",
            config.num_hidden_layers, " layers, first MoE layer ", config.first_k_dense_replace,
            ", ", config.num_experts, " experts)");
  return *parsed;
}

}  // namespace uoe
