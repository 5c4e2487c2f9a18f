#pragma once
// The small MoE model shared by tests: 3 layers (layer 0 dense, layers 1-2 MoE), GQA, top-2.
#include "model/model_config.h"

namespace uoe::test {

ModelConfig tiny_moe_config(int64_t num_experts);

}  // namespace uoe::test
