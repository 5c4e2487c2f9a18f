#include "train/batching.h"

#include <numeric>
#include <random>

#include "common/check.h"

namespace uoe {

GlobalBatchSampler::GlobalBatchSampler(int64_t dataset_size, int64_t per_rank_batch, int world,
                                       uint64_t seed)
    : size_(dataset_size), per_rank_batch_(per_rank_batch), world_(world), seed_(seed) {
  UOE_CHECK(dataset_size > 0, "cannot sample batches from an empty dataset");
}

int64_t GlobalBatchSampler::steps_per_epoch() const {
  const int64_t global = per_rank_batch_ * world_;
  return (size_ + global - 1) / global;
}

const std::vector<int64_t>& GlobalBatchSampler::permutation(int64_t epoch) const {
  if (epoch != cached_epoch_) {
    cached_.resize(size_);
    std::iota(cached_.begin(), cached_.end(), 0);
    std::mt19937_64 rng(seed_ + 0x9E3779B97F4A7C15ull * uint64_t(epoch + 1));
    for (int64_t i = size_ - 1; i > 0; --i) std::swap(cached_[i], cached_[rng() % uint64_t(i + 1)]);
    cached_epoch_ = epoch;
  }
  return cached_;
}

std::vector<int64_t> GlobalBatchSampler::rank_indices(int64_t micro_step, int rank) const {
  std::vector<int64_t> indices;
  const int64_t first = (micro_step * world_ + rank) * per_rank_batch_;
  for (int64_t p = first; p < first + per_rank_batch_; ++p) {
    indices.push_back(permutation(p / size_)[p % size_]);
  }
  return indices;
}

std::vector<std::vector<int64_t>> shard_batches(int64_t n, int rank, int world,
                                                int64_t batch_size) {
  const int64_t per_rank_max = (n + world - 1) / world;
  const int64_t num_batches = std::max<int64_t>(1, (per_rank_max + batch_size - 1) / batch_size);
  std::vector<std::vector<int64_t>> batches(num_batches);
  int64_t position = 0;
  for (int64_t i = rank; i < n; i += world, ++position) batches[position / batch_size].push_back(i);
  return batches;
}

}  // namespace uoe
