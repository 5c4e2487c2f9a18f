#include "data/synthetic_corpus.h"

#include <random>

#include "common/check.h"

namespace uoe {

void SyntheticCorpusOptions::validate(int64_t model_vocab_size) const {
  UOE_CHECK(vocab_size >= 2 * num_topics && vocab_size <= model_vocab_size,
            "data.vocab_size must be in [2 * data.num_topics, model.vocab_size=", model_vocab_size,
            "], got ", vocab_size);
  UOE_CHECK(seq_len >= 2, "data.seq_len must be >= 2, got ", seq_len);
  UOE_CHECK(num_topics >= 1, "data.num_topics must be >= 1, got ", num_topics);
  UOE_CHECK(branching >= 1, "data.branching must be >= 1, got ", branching);
}

SyntheticCorpus::SyntheticCorpus(const SyntheticCorpusOptions& options) : options_(options) {
  const int64_t per_topic = options.vocab_size / options.num_topics;
  successors_ = torch::empty({options.vocab_size, options.branching}, torch::kInt64);
  auto table = successors_.accessor<int64_t, 2>();
  std::mt19937_64 rng(options.seed);
  for (int64_t token = 0; token < options.vocab_size; ++token) {
    const int64_t topic = std::min(token / per_topic, options.num_topics - 1);
    std::uniform_int_distribution<int64_t> pick(topic * per_topic, (topic + 1) * per_topic - 1);
    for (int64_t b = 0; b < options.branching; ++b) table[token][b] = pick(rng);
  }
}

torch::Tensor SyntheticCorpus::sequences(int64_t first, int64_t count) const {
  const int64_t per_topic = options_.vocab_size / options_.num_topics;
  auto out = torch::empty({count, options_.seq_len + 1}, torch::kInt64);
  auto tokens = out.accessor<int64_t, 2>();
  auto table = successors_.accessor<int64_t, 2>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = first + i;
    std::mt19937_64 rng(options_.seed ^ (0x5851F42D4C957F2Dull * (index + 1)));
    const int64_t topic = std::uniform_int_distribution<int64_t>(0, options_.num_topics - 1)(rng);
    // Skewed choice of successor: the first one is the most likely.
    std::discrete_distribution<int64_t> branch_choice = [&] {
      std::vector<double> w(options_.branching);
      for (int64_t b = 0; b < options_.branching; ++b) w[b] = 1.0 / double(b + 1);
      return std::discrete_distribution<int64_t>(w.begin(), w.end());
    }();
    int64_t token =
        std::uniform_int_distribution<int64_t>(topic * per_topic, (topic + 1) * per_topic - 1)(rng);
    for (int64_t s = 0; s <= options_.seq_len; ++s) {
      tokens[i][s] = token;
      token = table[token][branch_choice(rng)];
    }
  }
  return out;
}

}  // namespace uoe
