#include "unlearn_fixtures.h"

#include <random>

namespace uoe::test {

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
