#include "moe/token_dispatcher.h"

#include "common/check.h"
#include "parallel/all_to_all.h"

namespace uoe {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

torch::Tensor inverse_permutation(const torch::Tensor& order) {
  auto inverse = torch::empty_like(order);
  inverse.scatter_(0, order, torch::arange(order.numel(), order.options()));
  return inverse;
}

}  // namespace

TokenDispatcher::TokenDispatcher(CommunicatorPtr ep, int64_t num_experts)
    : ep_(std::move(ep)), num_experts_(num_experts) {
  ep_size_ = ep_ ? ep_->size() : 1;
  UOE_CHECK(num_experts % ep_size_ == 0, "num_experts=", num_experts,
            " is not divisible by parallel.ep_size=", ep_size_);
  num_local_experts_ = num_experts / ep_size_;
  first_local_expert_ = (ep_ ? ep_->rank() : 0) * num_local_experts_;
}

std::pair<torch::Tensor, DispatchPlan> TokenDispatcher::dispatch(const torch::Tensor& hidden,
                                                                 const torch::Tensor& topk_ids) {
  DispatchPlan plan;
  plan.num_tokens = hidden.size(0);
  plan.top_k = topk_ids.size(1);
  auto flat_ids = topk_ids.reshape({-1});                                      // [T*K]
  plan.sort_order = std::get<1>(flat_ids.sort(/*stable=*/true, 0, false));     // [T*K]
  plan.unsort_order = inverse_permutation(plan.sort_order);                    // [T*K]
  auto token_of_row = torch::div(plan.sort_order, plan.top_k, "floor");        // [T*K]
  auto permuted = hidden.index_select(0, token_of_row);                        // [T*K, H]
  plan.tokens_per_expert = torch::bincount(flat_ids.to(torch::kCPU), {}, num_experts_);  // [E]

  if (ep_size_ == 1) {
    plan.rows_per_local_expert = to_vector(plan.tokens_per_expert);
    plan.send_splits = plan.recv_splits = {permuted.size(0)};
    return {permuted, plan};
  }

  // Count exchange: row p of `sent_counts` goes to rank p; row s of `recv_counts` came from s.
  // It travels on the tokens' device (the communicator's: CPU for MPI, CUDA for NCCL).
  auto sent_counts = plan.tokens_per_expert.view({ep_size_, num_local_experts_});
  auto sent_on_device = sent_counts.to(hidden.device()).contiguous();  // [P, El]
  auto recv_on_device = torch::empty_like(sent_on_device);             // [P, El]
  ep_->all_to_all_single(recv_on_device, sent_on_device, {}, {});
  auto recv_counts = recv_on_device.to(torch::kCPU);                   // [P, El]
  plan.send_splits = to_vector(sent_counts.sum(1));
  plan.recv_splits = to_vector(recv_counts.sum(1));
  plan.rows_per_local_expert = to_vector(recv_counts.sum(0));

  auto received = all_to_all(permuted, plan.recv_splits, plan.send_splits, ep_,
                             hidden.requires_grad());  // [R, H] ordered (source, expert)

  // Regroup (source, expert) blocks into (expert, source) order.
  auto counts = recv_counts.accessor<int64_t, 2>();
  std::vector<int64_t> block_start(ep_size_ * num_local_experts_);
  int64_t offset = 0;
  for (int64_t s = 0; s < ep_size_; ++s) {
    for (int64_t e = 0; e < num_local_experts_; ++e) {
      block_start[s * num_local_experts_ + e] = offset;
      offset += counts[s][e];
    }
  }
  std::vector<int64_t> regroup;
  regroup.reserve(offset);
  for (int64_t e = 0; e < num_local_experts_; ++e) {
    for (int64_t s = 0; s < ep_size_; ++s) {
      const int64_t start = block_start[s * num_local_experts_ + e];
      for (int64_t i = 0; i < counts[s][e]; ++i) regroup.push_back(start + i);
    }
  }
  plan.regroup_order = torch::tensor(regroup, torch::kInt64).to(hidden.device());  // [R]
  plan.ungroup_order = inverse_permutation(plan.regroup_order);                     // [R]
  return {received.index_select(0, plan.regroup_order), plan};
}

torch::Tensor TokenDispatcher::combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                                       const torch::Tensor& topk_weights, bool differentiable) {
  torch::Tensor sorted_rows = expert_output;  // [T*K, H] when ep_size == 1
  if (ep_size_ > 1) {
    auto by_source = expert_output.index_select(0, plan.ungroup_order);  // [R, H]
    sorted_rows = all_to_all(by_source, plan.send_splits, plan.recv_splits, ep_,
                             differentiable);  // [T*K, H]
  }
  const int64_t hidden_size = expert_output.size(1);
  auto per_choice = sorted_rows.index_select(0, plan.unsort_order)
                        .view({plan.num_tokens, plan.top_k, hidden_size});  // [T, K, H]
  // One pass over the rows: [T, 1, K] x [T, K, H] -> [T, 1, H], accumulated in fp32.
  auto combined = torch::bmm(topk_weights.unsqueeze(1), per_choice.to(torch::kFloat32)).squeeze(1);
  return combined.to(expert_output.scalar_type());  // [T, H]
}

}  // namespace uoe
