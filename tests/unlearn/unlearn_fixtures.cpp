#include "unlearn_fixtures.h"

#include <random>

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

TokenDataset random_qa_dataset(int64_t count, int64_t vocab_size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenSequence> sequences;
  for (int64_t i = 0; i < count; ++i) {
    TokenSequence s;
    const int64_t length = 6 + int64_t(rng() % 5);
    const int64_t answer = 2 + int64_t(rng() % 2);
    for (int64_t t = 0; t < length; ++t) {
      s.tokens.push_back(int32_t(4 + rng() % uint64_t(vocab_size - 4)));
      s.loss_mask.push_back(t >= length - answer ? 1 : 0);
    }
    sequences.push_back(std::move(s));
  }
  return TokenDataset(std::move(sequences), vocab_size, "random-qa-" + std::to_string(seed));
}

}  // namespace uoe::test
