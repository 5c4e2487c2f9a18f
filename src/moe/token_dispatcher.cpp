#include "moe/token_dispatcher.h"

#include "common/check.h"
#include "moe/all_to_all_dispatch.h"
#include "moe/shared_memory_dispatch.h"
#include "parallel/mpi_communicator.h"

namespace uoe {

TokenDispatcher::TokenDispatcher(ProcessGroup ep, int64_t num_experts)
    : ep_(std::move(ep)), num_experts_(num_experts) {
  ep_size_ = ep_.size();
  UOE_CHECK(num_experts % ep_size_ == 0, "num_experts=", num_experts,
            " is not divisible by parallel.ep_size=", ep_size_);
  num_local_experts_ = num_experts / ep_size_;
  first_local_expert_ = ep_.rank() * num_local_experts_;
}

void TokenDispatcher::set_profiler(StepProfiler* profiler, int layer) {
  profiler_ = profiler;
  layer_ = layer;
  if (transport_) transport_->set_profiler(profiler, layer);
}

void TokenDispatcher::set_shared_memory(bool on) {
  shared_memory_ = on;
  transport_.reset();
}

const char* TokenDispatcher::transport_name() const {
  UOE_ASSERT(transport_ != nullptr, "transport_name: no dispatch yet");
  return transport_->name();
}

DispatchTransport& TokenDispatcher::transport(const torch::Tensor& hidden) {
  if (!transport_) {
    NodeSharedMemory* shared = ep_size_ > 1 && shared_memory_ && hidden.device().is_cpu()
                                   ? node_shared_memory(*ep_.data)
                                   : nullptr;
    if (ep_size_ == 1) {
      transport_ = std::make_unique<LocalTransport>();
    } else if (shared) {
      transport_ = std::make_unique<SharedMemoryTransport>(ep_, *shared, num_experts_);
    } else {
      transport_ = std::make_unique<AllToAllTransport>(ep_, num_experts_);
    }
    transport_->set_profiler(profiler_, layer_);
  }
  return *transport_;
}

std::pair<torch::Tensor, DispatchPlan> TokenDispatcher::dispatch(
    const torch::Tensor& hidden, const torch::Tensor& topk_ids,
    const std::function<void()>& while_in_flight, ExchangeRecord* record) {
  if (replaying(record)) {
    DispatchPlan plan = record->plan;
    auto expert_input = transport(hidden).dispatch(hidden, torch::Tensor(), plan, while_in_flight,
                                                   record);  // [R, H]
    return {expert_input, plan};
  }
  DispatchPlan plan;
  plan.num_tokens = hidden.size(0);
  plan.top_k = topk_ids.size(1);
  torch::Tensor sort_order;  // [T*K] sorted position -> flat (token, k) index
  {
    const StepProfiler::Scope timer(profiler_, "permutation", layer_);
    auto flat_ids = topk_ids.reshape({-1});                              // [T*K]
    sort_order = std::get<1>(flat_ids.sort(/*stable=*/true, 0, false));  // [T*K]
    // Counted where the ids are (bincount on a GPU reads its input's min and max on the host),
    // then the layer's one device-to-host copy.
    auto counts = torch::zeros({num_experts_}, flat_ids.options())
                      .scatter_add_(0, flat_ids, torch::ones_like(flat_ids));  // [E]
    plan.tokens_per_expert = counts.to(torch::kCPU);                           // [E]
  }
  auto expert_input = transport(hidden).dispatch(hidden, sort_order, plan, while_in_flight, record);
  if (record) record->plan = plan;
  return {expert_input, plan};
}

torch::Tensor TokenDispatcher::combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                                       const torch::Tensor& topk_weights, bool differentiable) {
  return combine(std::vector<torch::Tensor>{expert_output}, plan, topk_weights, differentiable);
}

torch::Tensor TokenDispatcher::combine(const std::vector<torch::Tensor>& expert_output_parts,
                                       const DispatchPlan& plan, const torch::Tensor& topk_weights,
                                       bool differentiable, ExchangeRecord* record) {
  UOE_ASSERT(transport_ != nullptr, "combine before any dispatch");
  return transport_->combine(expert_output_parts, plan, topk_weights, differentiable, record);
}

}  // namespace uoe
