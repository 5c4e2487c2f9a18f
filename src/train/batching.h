#pragma once
// Which sequences each rank reads.
//
// Training: the dataset is visited in seeded per-epoch permutations; global micro-batch m is the
// positions [m*G, (m+1)*G) of the concatenated permutations (G = world * per-rank batch B), and
// rank r reads the r-th block of B. The same global batch results for any world size with the
// same G, so layouts can be compared step by step.
//
// Evaluation: sequences are dealt round-robin to ranks and cut into batches; every rank gets the
// same number of batches (some possibly empty), because every forward pass is collective.
#include <cstdint>
#include <vector>

namespace uoe {

class GlobalBatchSampler {
 public:
  GlobalBatchSampler(int64_t dataset_size, int64_t per_rank_batch, int world, uint64_t seed);

  std::vector<int64_t> rank_indices(int64_t micro_step, int rank) const;
  int64_t steps_per_epoch() const;  // micro-steps that cover the dataset once: ceil(N / G)

 private:
  const std::vector<int64_t>& permutation(int64_t epoch) const;
  int64_t size_, per_rank_batch_;
  int world_;
  uint64_t seed_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_;
};

// Batches of this rank's share of [0, n): indices i with i % world == rank, in order, cut into
// batches of at most batch_size; padded with empty batches to the same count on every rank.
std::vector<std::vector<int64_t>> shard_batches(int64_t n, int rank, int world, int64_t batch_size);

}  // namespace uoe
