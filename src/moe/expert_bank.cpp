#include "moe/expert_bank.h"

#include <algorithm>

#include "common/check.h"

namespace uoe {

ExpertBankImpl::ExpertBankImpl(const ExpertBankOptions& options) : options_(options) {
  for (int64_t e = 0; e < options.num_local_experts; ++e) {
    const int64_t global_id = options.first_expert + e;
    experts_.push_back(register_module(std::to_string(global_id),
                                       SwiGLU(options.hidden_size, options.intermediate_size)));
  }
}

bool ExpertBankImpl::owns(int64_t global_id) const {
  return global_id >= options_.first_expert &&
         global_id < options_.first_expert + options_.num_local_experts;
}

SwiGLU& ExpertBankImpl::expert(int64_t global_id) {
  UOE_ASSERT(owns(global_id), "expert ", global_id, " is not on this rank (it holds [",
             options_.first_expert, ", ", options_.first_expert + options_.num_local_experts, "))");
  return experts_[global_id - options_.first_expert];
}

std::vector<torch::Tensor> ExpertBankImpl::forward_parts(
    const torch::Tensor& rows, const std::vector<int64_t>& rows_per_expert) {
  UOE_ASSERT(static_cast<int64_t>(rows_per_expert.size()) == options_.num_local_experts,
             "expected ", options_.num_local_experts, " row counts, got ", rows_per_expert.size());
  int64_t total = 0;
  for (int64_t n : rows_per_expert) total += n;
  UOE_ASSERT(total == rows.size(0), "row counts sum to ", total, ", got ", rows.size(0), " rows");
  // split (not narrow per expert): its backward writes every expert's gradient into one buffer
  // instead of adding up one zero-padded full-size gradient per expert.
  const auto parts = rows.split_with_sizes(rows_per_expert);  // El x [n_e, H]
  std::vector<torch::Tensor> outputs;
  for (int64_t e = 0; e < options_.num_local_experts; ++e) {
    if (rows_per_expert[e] > 0) outputs.push_back(experts_[e]->forward(parts[e]));  // [n_e, H]
  }
  if (outputs.empty()) outputs.push_back(rows * 0);  // [0, H]
  return outputs;
}

torch::Tensor ExpertBankImpl::forward(const torch::Tensor& rows,
                                      const std::vector<int64_t>& rows_per_expert) {
  const auto outputs = forward_parts(rows, rows_per_expert);
  return outputs.size() == 1 ? outputs[0] : torch::cat(outputs, 0);  // [R, H]
}

void ExpertBankImpl::set_trainable_experts(const std::vector<int64_t>& global_ids) {
  any_trainable_ = !global_ids.empty();
  for (int64_t e = 0; e < options_.num_local_experts; ++e) {
    const int64_t global_id = options_.first_expert + e;
    const bool trainable =
        std::find(global_ids.begin(), global_ids.end(), global_id) != global_ids.end();
    for (auto& p : experts_[e]->parameters()) p.set_requires_grad(trainable);
  }
}

}  // namespace uoe
