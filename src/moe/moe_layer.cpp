#include "moe/moe_layer.h"

#include "common/check.h"

namespace uoe {

MoELayerImpl::MoELayerImpl(const MoELayerOptions& options, ProcessGroup ep,
                           const torch::TensorOptions& parameter_options)
    : options_(options), dispatcher_(std::move(ep), options.router.num_experts) {
  const int64_t hidden_size = options.router.hidden_size;
  gate = register_module("gate", Router(options.router, parameter_options));
  ExpertBankOptions bank;
  bank.hidden_size = hidden_size;
  bank.intermediate_size = options.expert_intermediate_size;
  bank.first_expert = dispatcher_.first_local_expert();
  bank.num_local_experts = dispatcher_.num_local_experts();
  experts = register_module("experts", ExpertBank(bank, parameter_options));
  if (options.shared_intermediate_size > 0) {
    shared_experts = register_module(
        "shared_experts", SwiGLU(hidden_size, options.shared_intermediate_size, parameter_options));
    if (options.shared_expert_gate) {
      shared_expert_gate =
          register_module("shared_expert_gate", Linear(hidden_size, 1, false, parameter_options));
    }
  }
}

void MoELayerImpl::set_profiler(StepProfiler* profiler, int layer) {
  profiler_ = profiler;
  layer_ = layer;
  dispatcher_.set_profiler(profiler, layer);
}

void MoELayerImpl::set_dispatch_options(const DispatchOptions& options) {
  overlap_shared_experts_ = options.overlap_shared_experts;
  dispatcher_.set_shared_memory(options.shared_memory);
}

MoEOutput MoELayerImpl::forward(const torch::Tensor& hidden, ExchangeRecord* record) {
  MoEOutput out;
  {
    const StepProfiler::Scope timer(profiler_, "router", layer_);
    out.routing = gate->forward(hidden);
  }
  const bool replay = replaying(record);
  if (replay) {
    // Same input, same weights, same arithmetic: the same choices, or the kept exchanges would
    // not match the recomputed combine weights.
    const auto same = out.routing.topk_ids.eq(record->topk_ids).all();  // [] bool
    if (same.is_cuda()) {
      at::_assert_async(same);  // checked on the device, without a host synchronisation
    } else {
      UOE_ASSERT(same.item<bool>(),
                 "recomputation routed tokens differently from the forward pass");
    }
  } else if (record) {
    record->topk_ids = out.routing.topk_ids;
  }
  torch::Tensor shared;  // [T, H]
  const auto run_shared_experts = [&] {
    const StepProfiler::Scope timer(profiler_, "shared_expert", layer_);
    shared = shared_experts->forward(hidden);
    if (shared_expert_gate) shared = torch::sigmoid(shared_expert_gate(hidden)) * shared;
  };
  const bool overlap = overlap_shared_experts_ && shared_experts;
  std::function<void()> while_in_flight;  // the shared experts, when they overlap the dispatch
  if (overlap) while_in_flight = run_shared_experts;
  // expert_input [R, H]
  auto [expert_input, plan] =
      dispatcher_.dispatch(hidden, out.routing.topk_ids, while_in_flight, record);
  std::vector<torch::Tensor> expert_output;  // per local expert with rows: [n_e, H]
  {
    const StepProfiler::Scope timer(profiler_, "expert_compute", layer_);
    expert_output = experts->forward_parts(expert_input, plan.rows_per_local_expert);
  }
  const bool differentiable = hidden.requires_grad() || experts->any_expert_trainable();
  out.hidden =
      dispatcher_.combine(expert_output, plan, out.routing.topk_weights, differentiable, record);
  out.tokens_per_expert = plan.tokens_per_expert;
  if (profiler_ && !replay) {
    const auto counts = plan.tokens_per_expert.contiguous();
    profiler_->add_tokens_per_expert(
        layer_, std::vector<int64_t>(counts.data_ptr<int64_t>(),
                                     counts.data_ptr<int64_t>() + counts.numel()));
  }
  if (shared_experts) {
    if (!overlap) run_shared_experts();
    out.hidden = out.hidden + shared;
  }
  return out;
}

}  // namespace uoe
