#include "test_models.h"

namespace uoe::test {

ModelConfig tiny_moe_config(int64_t num_experts) {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 24;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  c.intermediate_size = 32;
  c.first_k_dense_replace = 1;
  c.num_experts = num_experts;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 16;
  c.norm_topk_prob = true;
  return c;
}

}  // namespace uoe::test
