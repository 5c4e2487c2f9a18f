#pragma once
// Built-in deterministic synthetic corpus for pretraining the tiny model without any files.
//
// Each sequence belongs to one of `num_topics` topics; a topic owns a slice of the vocabulary and a
// sparse transition table (each token has `branching` likely successors inside the topic). The
// tokens of sequence i depend only on (seed, i), so any rank can produce any shard, and the
// global batch of a step is the same whatever the number of ranks.
#include <torch/torch.h>

namespace uoe {

struct SyntheticCorpusOptions {
  int64_t vocab_size = 256;
  int64_t seq_len = 64;  // tokens the model sees per sequence (labels are shifted by one)
  int64_t num_topics = 4;
  int64_t branching = 3;
  uint64_t seed = 1234;

  void validate(int64_t model_vocab_size) const;
};

class SyntheticCorpus {
 public:
  explicit SyntheticCorpus(const SyntheticCorpusOptions& options);
  // Sequences [first, first + count) as [count, seq_len + 1] int64 tokens.
  torch::Tensor sequences(int64_t first, int64_t count) const;

 private:
  SyntheticCorpusOptions options_;
  torch::Tensor successors_;  // [vocab, branching] int64
};

}  // namespace uoe
