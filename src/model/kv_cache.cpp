#include "model/kv_cache.h"

#include "common/check.h"

namespace uoe {

std::pair<torch::Tensor, torch::Tensor> LayerCacheStep::append(const torch::Tensor& key,
                                                               const torch::Tensor& value) const {
  const int64_t batch = key.size(0), heads = key.size(1), seq = key.size(2);
  if (!cache.key.defined()) {
    cache.key = torch::zeros({batch, heads, step.capacity, key.size(3)}, key.options());
    cache.value = torch::zeros({batch, heads, step.capacity, value.size(3)}, value.options());
  }
  auto where = step.positions.reshape({batch, 1, seq, 1});  // [B, 1, S, 1]
  cache.key.scatter_(2, where.expand_as(key), key);
  cache.value.scatter_(2, where.expand_as(value), value);
  return {cache.key.narrow(2, 0, step.key_length), cache.value.narrow(2, 0, step.key_length)};
}

KVCache::KVCache(int64_t layers, int64_t capacity, RotaryTables rotary)
    : capacity_(capacity), tables_(std::move(rotary)), layers_(layers) {}

const CacheStep& KVCache::begin_step(const torch::Tensor& positions) {
  const int64_t batch = positions.size(0), seq = positions.size(1);
  const int64_t key_length = positions.max().item<int64_t>() + 1;
  UOE_CHECK(positions.min().item<int64_t>() >= 0 && key_length <= capacity_, "KV cache of ",
            capacity_, " positions asked for position ", key_length - 1);
  auto keys = torch::arange(key_length, positions.options()).view({1, 1, 1, key_length});
  step_.positions = positions;
  step_.blocked = keys > positions.reshape({batch, 1, seq, 1});  // [B, 1, S, K]
  step_.key_length = key_length;
  step_.capacity = capacity_;
  auto at = [&](const torch::Tensor& table) {  // [C, D] -> [B, 1, S, D]
    return table.index_select(0, positions.reshape({-1})).view({batch, 1, seq, table.size(1)});
  };
  step_.rotary = {at(tables_.cos), at(tables_.sin)};
  return step_;
}

}  // namespace uoe
