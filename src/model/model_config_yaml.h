#pragma once
#include "common/config_node.h"
#include "model/model_config.h"

namespace uoe {

// Reads the `model:` mapping (HF config.json field names) and validates it.
ModelConfig parse_model_config(ConfigNode node);

}  // namespace uoe
