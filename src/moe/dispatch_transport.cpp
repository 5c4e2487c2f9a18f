#include "moe/dispatch_transport.h"

namespace uoe {

torch::Tensor sum_rows_per_token(const torch::Tensor& table, const torch::Tensor& index,
                                 const torch::Tensor& weights, int64_t tokens, int64_t top_k) {
  if (table.scalar_type() == torch::kFloat32) {
    auto offsets = torch::arange(0, tokens * top_k, top_k, index.options());  // [T]
    return std::get<0>(torch::embedding_bag(table, index, offsets, /*scale_grad_by_freq=*/false,
                                            /*mode=sum*/ 0, /*sparse=*/false, weights));
  }
  // Other dtypes: only the gathered rows are widened to fp32, not the whole table.
  auto gathered =
      table.index_select(0, index).to(torch::kFloat32).view({tokens, top_k, table.size(1)});
  return (weights.defined() ? gathered * weights.view({tokens, top_k, 1}) : gathered).sum(1);
}

}  // namespace uoe
