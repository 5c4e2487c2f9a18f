#include "moe/token_dispatcher.h"

#include <chrono>

#include "common/check.h"
#include "moe/shared_memory_dispatch.h"
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

// recv_counts [P, El] -> [R] int64: the expert-major position of each received row. Rows arrive
// in (source, expert) blocks; the expert bank wants (expert, source) blocks.
torch::Tensor expert_major_positions(const torch::Tensor& recv_counts) {
  const int64_t sources = recv_counts.size(0), experts = recv_counts.size(1);
  auto counts = recv_counts.accessor<int64_t, 2>();
  std::vector<int64_t> block_start(sources * experts);  // [(s, e)]
  int64_t position = 0;
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t s = 0; s < sources; ++s) {
      block_start[s * experts + e] = position;
      position += counts[s][e];
    }
  }
  auto positions = torch::empty({position}, torch::kInt64);  // [R]
  int64_t* out = positions.data_ptr<int64_t>();
  for (int64_t s = 0; s < sources; ++s) {
    for (int64_t e = 0; e < experts; ++e) {
      for (int64_t i = 0; i < counts[s][e]; ++i) *out++ = block_start[s * experts + e] + i;
    }
  }
  return positions;
}

}  // namespace

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

TokenDispatcher::TokenDispatcher(CommunicatorPtr ep, int64_t num_experts)
    : ep_(std::move(ep)), num_experts_(num_experts) {
  ep_size_ = ep_ ? ep_->size() : 1;
  UOE_CHECK(num_experts % ep_size_ == 0, "num_experts=", num_experts,
            " is not divisible by parallel.ep_size=", ep_size_);
  num_local_experts_ = num_experts / ep_size_;
  first_local_expert_ = (ep_ ? ep_->rank() : 0) * num_local_experts_;
}

SharedDispatchContext TokenDispatcher::shared_context() const {
  SharedDispatchContext context;
  context.communicator = ep_;
  context.memory = ep_->node_shared_memory();
  context.rank = ep_->rank();
  context.ranks = static_cast<int>(ep_size_);
  context.num_experts = num_experts_;
  context.profiler = profiler_;
  context.layer = layer_;
  return context;
}

std::pair<torch::Tensor, DispatchPlan> TokenDispatcher::dispatch(
    const torch::Tensor& hidden, const torch::Tensor& topk_ids,
    const std::function<void()>& while_in_flight) {
  DispatchPlan plan;
  plan.num_tokens = hidden.size(0);
  plan.top_k = topk_ids.size(1);
  torch::Tensor sort_order;  // [T*K] sorted position -> flat (token, k) index
  {
    const StepProfiler::Scope timer(profiler_, "permutation", layer_);
    auto flat_ids = topk_ids.reshape({-1});                                          // [T*K]
    sort_order = std::get<1>(flat_ids.sort(/*stable=*/true, 0, false));             // [T*K]
    plan.tokens_per_expert = torch::bincount(flat_ids.to(torch::kCPU), {}, num_experts_);  // [E]
  }
  NodeSharedMemory* shared = ep_size_ > 1 && shared_memory_ && hidden.device().is_cpu()
                                 ? ep_->node_shared_memory()
                                 : nullptr;
  if (shared) {
    torch::Tensor all_counts;  // [P, E]
    {
      const StepProfiler::Scope timer(profiler_, "count_exchange", layer_);
      all_counts = torch::empty({ep_size_, num_experts_}, torch::kInt64);
      ep_->all_gather(all_counts, plan.tokens_per_expert.contiguous());
      StepProfiler::add_bytes(profiler_, "count_exchange", layer_, double(num_experts_) * 8.0);
    }
    auto expert_input = shared_memory_dispatch(shared_context(), hidden, sort_order, all_counts,
                                               plan, while_in_flight);
    return {expert_input, plan};
  }

  torch::Tensor token_of_row;  // [T*K] sorted position -> token
  {
    const StepProfiler::Scope timer(profiler_, "permutation", layer_);
    plan.unsort_order = inverse_permutation(sort_order);         // [T*K]
    token_of_row = torch::div(sort_order, plan.top_k, "floor");  // [T*K]
    if (ep_size_ == 1) {
      plan.rows_per_local_expert = to_vector(plan.tokens_per_expert);
      plan.send_splits = plan.recv_splits = {token_of_row.size(0)};
      if (while_in_flight) while_in_flight();  // nothing to overlap with
      return {hidden.index_select(0, token_of_row), plan};  // [T*K, H]
    }
  }

  // Count exchange: row p of `sent_counts` goes to rank p; row s of `recv_counts` came from s.
  // It travels on the tokens' device (the communicator's: CPU for MPI, CUDA for NCCL).
  torch::Tensor recv_counts;  // [P, El]
  {
    const StepProfiler::Scope timer(profiler_, "count_exchange", layer_);
    auto sent_counts = plan.tokens_per_expert.view({ep_size_, num_local_experts_});
    auto sent_on_device = sent_counts.to(hidden.device()).contiguous();  // [P, El]
    auto recv_on_device = torch::empty_like(sent_on_device);             // [P, El]
    ep_->all_to_all_single(recv_on_device, sent_on_device, {}, {});
    recv_counts = recv_on_device.to(torch::kCPU);
    plan.send_splits = to_vector(sent_counts.sum(1));
    StepProfiler::add_bytes(profiler_, "count_exchange", layer_,
                            double(sent_counts.numel()) * double(sent_counts.element_size()));
  }
  {
    const StepProfiler::Scope timer(profiler_, "permutation", layer_);
    plan.recv_splits = to_vector(recv_counts.sum(1));
    plan.rows_per_local_expert = to_vector(recv_counts.sum(0));
    plan.ungroup_order = expert_major_positions(recv_counts).to(hidden.device());  // [R]
  }

  ExchangeRows rows;
  rows.send = token_of_row;  // a token goes out once per expert it chose
  rows.recv = plan.ungroup_order;
  StepProfiler::add_bytes(profiler_, "token_all_to_all", layer_,
                          double(token_of_row.numel()) * double(hidden.size(1)) *
                              double(hidden.element_size()));
  // "token_all_to_all" is the time the exchange holds this rank up: work run while the rows are
  // in flight reports its own time, which is taken out.
  double in_flight_s = 0.0;
  std::function<void()> timed_work;
  if (while_in_flight) {
    timed_work = [&] {
      const auto start = std::chrono::steady_clock::now();
      while_in_flight();
      in_flight_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
  }
  const auto start = std::chrono::steady_clock::now();
  auto expert_input = all_to_all(hidden, plan.recv_splits, plan.send_splits, ep_,
                                 hidden.requires_grad(), rows, {profiler_, layer_},
                                 timed_work);  // [R, H] (expert, source)
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  StepProfiler::add_seconds(profiler_, "token_all_to_all", layer_, total_s - in_flight_s);
  return {expert_input, plan};
}

torch::Tensor TokenDispatcher::combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                                       const torch::Tensor& topk_weights, bool differentiable) {
  return combine(std::vector<torch::Tensor>{expert_output}, plan, topk_weights, differentiable);
}

torch::Tensor TokenDispatcher::combine(const std::vector<torch::Tensor>& expert_output_parts,
                                       const DispatchPlan& plan, const torch::Tensor& topk_weights,
                                       bool differentiable) {
  UOE_ASSERT(!expert_output_parts.empty(), "combine: no expert output");
  if (plan.through_shared_memory) {
    return shared_memory_combine(shared_context(), expert_output_parts, plan, topk_weights,
                                 differentiable);
  }
  torch::Tensor expert_output = expert_output_parts[0];  // [R, H]
  if (expert_output_parts.size() > 1) {
    // The expert bank's concatenation, done here so that it can go straight where it is sent from.
    const StepProfiler::Scope timer(profiler_, "expert_compute", layer_);
    expert_output = torch::cat(expert_output_parts, 0);
  }
  torch::Tensor sorted_rows = expert_output;  // [T*K, H] in sorted (expert) order
  if (ep_size_ > 1) {
    const StepProfiler::Scope timer(profiler_, "token_all_to_all", layer_);
    ExchangeRows rows;
    rows.send = plan.ungroup_order;  // back in the order they arrived: whole (source, expert) runs
    rows.send_is_permutation = true;
    StepProfiler::add_bytes(profiler_, "token_all_to_all", layer_,
                            double(expert_output.numel()) * double(expert_output.element_size()));
    sorted_rows = all_to_all(expert_output, plan.send_splits, plan.recv_splits, ep_, differentiable,
                             rows, {profiler_, layer_});  // arrives in this rank's sorted order
  }
  const StepProfiler::Scope timer(profiler_, "combine", layer_);
  // Each token's K rows, gathered from their sorted positions and weighted in the same pass.
  return sum_rows_per_token(sorted_rows, plan.unsort_order,
                            topk_weights.reshape({-1}).to(torch::kFloat32), plan.num_tokens,
                            plan.top_k)
      .to(expert_output.scalar_type());  // [T, H]
}

}  // namespace uoe
