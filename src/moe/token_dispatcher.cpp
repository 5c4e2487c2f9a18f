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
  plan.tokens_per_expert = torch::bincount(flat_ids.to(torch::kCPU), {}, num_experts_);  // [E]

  if (ep_size_ == 1) {
    plan.rows_per_local_expert = to_vector(plan.tokens_per_expert);
    plan.send_splits = plan.recv_splits = {token_of_row.size(0)};
    return {hidden.index_select(0, token_of_row), plan};  // [T*K, H]
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

  // Expert-major position of each received row: received rows come in (source, expert)
  // blocks, the expert bank wants (expert, source) blocks.
  auto counts = recv_counts.accessor<int64_t, 2>();
  std::vector<int64_t> expert_major_start(ep_size_ * num_local_experts_);  // [(s, e)]
  int64_t position = 0;
  for (int64_t e = 0; e < num_local_experts_; ++e) {
    for (int64_t s = 0; s < ep_size_; ++s) {
      expert_major_start[s * num_local_experts_ + e] = position;
      position += counts[s][e];
    }
  }
  std::vector<int64_t> ungroup;  // [R]
  ungroup.reserve(position);
  for (int64_t s = 0; s < ep_size_; ++s) {
    for (int64_t e = 0; e < num_local_experts_; ++e) {
      const int64_t start = expert_major_start[s * num_local_experts_ + e];
      for (int64_t i = 0; i < counts[s][e]; ++i) ungroup.push_back(start + i);
    }
  }
  plan.ungroup_order = torch::tensor(ungroup, torch::kInt64).to(hidden.device());  // [R]
  ExchangeRows rows;
  rows.send = token_of_row;  // a token goes out once per expert it chose
  rows.recv = plan.ungroup_order;
  auto expert_input = all_to_all(hidden, plan.recv_splits, plan.send_splits, ep_,
                                 hidden.requires_grad(), rows);  // [R, H] (expert, source)
  return {expert_input, plan};
}

torch::Tensor TokenDispatcher::combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                                       const torch::Tensor& topk_weights, bool differentiable) {
  const int64_t hidden_size = expert_output.size(1);
  torch::Tensor choice_rows;  // [T*K, H] in flat (token, k) order
  if (ep_size_ == 1) {
    choice_rows = expert_output.index_select(0, plan.unsort_order);
  } else {
    ExchangeRows rows;
    rows.send = plan.ungroup_order;  // back in the order they arrived
    rows.recv = plan.sort_order;     // straight to their (token, k) slot
    rows.send_is_permutation = true;
    choice_rows = all_to_all(expert_output, plan.send_splits, plan.recv_splits, ep_,
                             differentiable, rows);
  }
  auto per_choice = choice_rows.view({plan.num_tokens, plan.top_k, hidden_size});  // [T, K, H]
  // One pass over the rows: [T, 1, K] x [T, K, H] -> [T, 1, H], accumulated in fp32.
  auto combined = torch::bmm(topk_weights.unsqueeze(1), per_choice.to(torch::kFloat32)).squeeze(1);
  return combined.to(expert_output.scalar_type());  // [T, H]
}

}  // namespace uoe
