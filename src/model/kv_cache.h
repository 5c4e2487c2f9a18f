#pragma once
// Key/value cache for incremental decoding. Each row of the batch has its own positions, so that
// right-padded prompts of different lengths decode exactly as the full forward over the padded
// batch (positions count from 0 in every row; a row's new token goes where its padding was).
// MHA/GQA caches the keys (after RoPE) and values of its G key/value heads; MLA caches, as HF
// transformers does, the per-head keys (nope part and rotated rope part) and values.
// Notation: B batch, S new tokens per row, C capacity, K attended key positions, G cached heads.
#include <torch/torch.h>

#include <vector>

#include "model/rotary.h"

namespace uoe {

// Keys and values of one attention layer for positions [0, C) of every row, allocated on the
// first write.
struct LayerKVCache {
  torch::Tensor key;    // [B, G, C, Dk]
  torch::Tensor value;  // [B, G, C, Dv]
};

// Where the tokens of one cached forward go; the same for every layer of that forward.
struct CacheStep {
  torch::Tensor positions;  // [B, S] int64: absolute position of each new token
  torch::Tensor blocked;    // [B, 1, S, K] bool: key position after the query's own
  int64_t key_length = 0;   // K = 1 + the largest new position
  int64_t capacity = 0;     // C
  RotaryTables rotary;      // cos/sin [B, 1, S, D] at `positions`
};

// One layer's view of a cached forward: writes the new keys and values and reads all K of them.
struct LayerCacheStep {
  const CacheStep& step;
  LayerKVCache& cache;

  // key [B, G, S, Dk], value [B, G, S, Dv] of the new tokens -> keys [B, G, K, Dk] and values
  // [B, G, K, Dv] at positions [0, K) (the new ones included).
  std::pair<torch::Tensor, torch::Tensor> append(const torch::Tensor& key,
                                                 const torch::Tensor& value) const;
};

// The cache of every layer for one batch of rows.
class KVCache {
 public:
  // `rotary` holds the tables for positions [0, capacity).
  KVCache(int64_t layers, int64_t capacity, RotaryTables rotary);

  // Prepares a forward of new tokens at `positions` [B, S] (int64, each < capacity).
  const CacheStep& begin_step(const torch::Tensor& positions);
  LayerCacheStep layer(size_t l) { return {step_, layers_.at(l)}; }

 private:
  int64_t capacity_;
  RotaryTables tables_;  // [C, D]
  std::vector<LayerKVCache> layers_;
  CacheStep step_;
};

}  // namespace uoe
