#include "moe/all_to_all_dispatch.h"

#include "common/device.h"
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

// The expert bank's concatenation of its parts ([R, H] in all), done here so that it can go
// straight where it is sent from.
torch::Tensor concatenated(const std::vector<torch::Tensor>& parts, StepProfiler* profiler,
                           int layer) {
  UOE_ASSERT(!parts.empty(), "combine: no expert output");
  if (parts.size() == 1) return parts[0];
  const StepProfiler::Scope timer(profiler, "expert_compute", layer);
  return torch::cat(parts, 0);
}

// sorted_rows [T*K, H] in this rank's sorted order -> [T, H] in `dtype`: each token's K rows,
// gathered from their sorted positions and weighted in the same pass.
torch::Tensor sum_sorted_rows(const torch::Tensor& sorted_rows, const torch::Tensor& unsort_order,
                              const DispatchPlan& plan, const torch::Tensor& topk_weights,
                              c10::ScalarType dtype, StepProfiler* profiler, int layer) {
  const StepProfiler::Scope timer(profiler, "combine", layer);
  return sum_rows_per_token(sorted_rows, unsort_order,
                            topk_weights.reshape({-1}).to(torch::kFloat32), plan.num_tokens,
                            plan.top_k)
      .to(dtype);  // [T, H]
}

}  // namespace

torch::Tensor LocalTransport::dispatch(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                                       DispatchPlan& plan,
                                       const std::function<void()>& while_in_flight,
                                       ExchangeRecord* record) {
  const StepProfiler::Scope timer(profiler_, "permutation", layer_);
  if (!replaying(record)) {
    auto mine = std::make_shared<LocalPlan>();
    mine->unsort_order = inverse_permutation(sort_order);              // [T*K]
    mine->token_of_row = torch::div(sort_order, plan.top_k, "floor");  // [T*K]
    plan.rows_per_local_expert = to_vector(plan.tokens_per_expert);
    plan.send_splits = plan.recv_splits = {mine->token_of_row.size(0)};
    plan.transport = std::move(mine);
  }
  if (while_in_flight) while_in_flight();  // nothing to overlap with
  return hidden.index_select(0, own_plan<LocalPlan>(plan)->token_of_row);  // [T*K, H]
}

torch::Tensor LocalTransport::combine(const std::vector<torch::Tensor>& expert_output_parts,
                                      const DispatchPlan& plan, const torch::Tensor& topk_weights,
                                      bool /*differentiable*/, ExchangeRecord* /*record*/) {
  const torch::Tensor expert_output = concatenated(expert_output_parts, profiler_, layer_);
  return sum_sorted_rows(expert_output, own_plan<LocalPlan>(plan)->unsort_order, plan, topk_weights,
                         expert_output.scalar_type(), profiler_, layer_);
}

AllToAllTransport::AllToAllTransport(ProcessGroup ep, int64_t num_experts)
    : ep_(std::move(ep)), ep_size_(ep_.size()), num_local_experts_(num_experts / ep_size_) {}

void AllToAllTransport::make_plan(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                                  DispatchPlan& plan) {
  auto mine = std::make_shared<AllToAllPlan>();
  {
    const StepProfiler::Scope timer(profiler_, "permutation", layer_);
    mine->unsort_order = inverse_permutation(sort_order);              // [T*K]
    mine->token_of_row = torch::div(sort_order, plan.top_k, "floor");  // [T*K]
  }

  // Count exchange on the control channel (CPU): row p of `sent_counts` goes to rank p; row s of
  // `recv_counts` came from s.
  torch::Tensor recv_counts;  // [P, El]
  {
    const StepProfiler::Scope timer(profiler_, "count_exchange", layer_);
    auto sent_counts = plan.tokens_per_expert.view({ep_size_, num_local_experts_}).contiguous();
    recv_counts = torch::empty_like(sent_counts);  // [P, El]
    ep_.control->all_to_all_single(recv_counts, sent_counts, {}, {});
    plan.send_splits = to_vector(sent_counts.sum(1));
    StepProfiler::add_bytes(profiler_, "count_exchange", layer_,
                            double(sent_counts.numel()) * double(sent_counts.element_size()));
  }
  const StepProfiler::Scope timer(profiler_, "permutation", layer_);
  plan.recv_splits = to_vector(recv_counts.sum(1));
  plan.rows_per_local_expert = to_vector(recv_counts.sum(0));
  mine->ungroup_order =
      host_to_device(expert_major_positions(recv_counts), hidden.device());  // [R]
  plan.transport = std::move(mine);
}

torch::Tensor AllToAllTransport::dispatch(const torch::Tensor& hidden,
                                          const torch::Tensor& sort_order, DispatchPlan& plan,
                                          const std::function<void()>& while_in_flight,
                                          ExchangeRecord* record) {
  const bool replay = replaying(record);
  if (!replay) make_plan(hidden, sort_order, plan);
  const auto mine = own_plan<AllToAllPlan>(plan);
  ExchangeRows rows;
  rows.send = mine->token_of_row;  // a token goes out once per expert it chose
  rows.recv = mine->ungroup_order;
  if (!replay) {
    StepProfiler::add_bytes(profiler_, "token_all_to_all", layer_,
                            double(mine->token_of_row.numel()) * double(hidden.size(1)) *
                                double(hidden.element_size()));
  }
  // "token_all_to_all" is the time the exchange holds this rank up: work run while the rows are
  // in flight reports its own time, which is taken out.
  std::function<void()> timed_work;
  if (while_in_flight) {
    timed_work = [&] {
      const int start = StepProfiler::stamp(profiler_);
      while_in_flight();
      StepProfiler::add_interval(profiler_, "token_all_to_all", layer_, start,
                                 StepProfiler::stamp(profiler_), -1.0);
    };
  }
  const int start = StepProfiler::stamp(profiler_);
  auto expert_input =
      all_to_all(hidden, plan.recv_splits, plan.send_splits, ep_.data, hidden.requires_grad(), rows,
                 {profiler_, layer_}, timed_work,
                 replay ? record->dispatched : torch::Tensor());  // [R, H] (expert, source)
  StepProfiler::add_interval(profiler_, "token_all_to_all", layer_, start,
                             StepProfiler::stamp(profiler_));
  if (record && !replay) record->dispatched = expert_input;
  return expert_input;
}

torch::Tensor AllToAllTransport::combine(const std::vector<torch::Tensor>& expert_output_parts,
                                         const DispatchPlan& plan,
                                         const torch::Tensor& topk_weights, bool differentiable,
                                         ExchangeRecord* record) {
  const bool replay = replaying(record);
  const auto mine = own_plan<AllToAllPlan>(plan);
  const torch::Tensor expert_output = concatenated(expert_output_parts, profiler_, layer_);
  torch::Tensor sorted_rows;  // [T*K, H] in sorted (expert) order
  {
    const StepProfiler::Scope timer(profiler_, "token_all_to_all", layer_);
    ExchangeRows rows;
    rows.send = mine->ungroup_order;  // back in the order they arrived: whole (source, expert) runs
    rows.send_is_permutation = true;
    if (!replay) {
      StepProfiler::add_bytes(profiler_, "token_all_to_all", layer_,
                              double(expert_output.numel()) * double(expert_output.element_size()));
    }
    sorted_rows = all_to_all(expert_output, plan.send_splits, plan.recv_splits, ep_.data,
                             differentiable, rows, {profiler_, layer_}, nullptr,
                             replay ? record->combined : torch::Tensor());  // sorted order here
    if (record && !replay) record->combined = sorted_rows;
  }
  return sum_sorted_rows(sorted_rows, mine->unsort_order, plan, topk_weights,
                         expert_output.scalar_type(), profiler_, layer_);
}

}  // namespace uoe
