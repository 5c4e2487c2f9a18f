#include "moe/expert_bank.h"

#include <torch/version.h>

#include <algorithm>

#include "common/check.h"
#include "common/device.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define UOE_HAVE_GROUPED_MM 1
#endif
#ifdef UOE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace uoe {
namespace {

// Identity whose backward hands on a dense gradient: _grouped_mm's backward refuses gradients with
// zero strides (an expanded one, as out.sum() gives).
struct DenseGradient : torch::autograd::Function<DenseGradient> {
  static torch::Tensor forward(torch::autograd::AutogradContext* /*ctx*/, const torch::Tensor& x) {
    return x;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* /*ctx*/,
                                                 torch::autograd::variable_list grads) {
    return {grads[0].contiguous()};
  }
};

// Whether ATen has a grouped bf16 kernel for this GPU (compute capability 9.x or 10.x).
bool has_grouped_kernel(const torch::Device& device) {
#ifdef UOE_TORCH_CUDA
  const int major = at::cuda::getDeviceProperties(device.index())->major;
  return major == 9 || major == 10;
#else
  (void)device;
  return false;
#endif
}

// rows [N, H] @ stack[e].t() per group of rows: stack [El, out, in], group_ends [El] int32
// (cumulative, on rows' device) -> [N, out].
torch::Tensor grouped_linear(const torch::Tensor& rows, const torch::Tensor& stack,
                             const torch::Tensor& group_ends) {
#ifdef UOE_HAVE_GROUPED_MM
  return at::_grouped_mm(rows, stack.transpose(1, 2), group_ends);
#else
  (void)rows;
  (void)stack;
  (void)group_ends;
  UOE_ASSERT(false, "grouped GEMM without at::_grouped_mm");
  return {};
#endif
}

}  // namespace

ExpertBankImpl::ExpertBankImpl(const ExpertBankOptions& options,
                               const torch::TensorOptions& parameter_options)
    : options_(options) {
  for (int64_t e = 0; e < options.num_local_experts; ++e) {
    const int64_t global_id = options.first_expert + e;
    experts_.push_back(
        register_module(std::to_string(global_id),
                        SwiGLU(options.hidden_size, options.intermediate_size, parameter_options)));
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

bool ExpertBankImpl::grouped_gemm_available() {
#ifdef UOE_HAVE_GROUPED_MM
  return true;
#else
  return false;
#endif
}

void ExpertBankImpl::set_grouped_gemm(GroupedGemm mode) {
  UOE_CHECK(mode != GroupedGemm::kOn || grouped_gemm_available(),
            "grouped GEMM experts need LibTorch 2.8 or later (at::_grouped_mm); this is ",
            TORCH_VERSION);
  grouped_ = mode;
}

bool ExpertBankImpl::uses_grouped_gemm(const torch::Tensor& rows) const {
  if (grouped_ != GroupedGemm::kAuto) return grouped_ == GroupedGemm::kOn;
  // The kernel wants 16-byte aligned rows: H and F multiples of 8 in bf16.
  return grouped_gemm_available() && rows.is_cuda() && rows.scalar_type() == torch::kBFloat16 &&
         options_.hidden_size % 8 == 0 && options_.intermediate_size % 8 == 0 &&
         has_grouped_kernel(rows.device());
}

torch::Tensor ExpertBankImpl::stacked_weights(int p) {
  const auto weight = [&](int64_t e) -> torch::Tensor& {
    SwiGLU& x = experts_[e];
    return (p == 0 ? x->gate_proj : p == 1 ? x->up_proj : x->down_proj)->weight;
  };
  torch::Tensor& stack = stacks_[p];  // [El, out, in]
  bool aliased = stack.defined();
  for (int64_t e = 0; aliased && e < options_.num_local_experts; ++e) {
    const torch::Tensor& w = weight(e);
    aliased = w.device() == stack.device() && w.scalar_type() == stack.scalar_type() &&
              w.is_contiguous() && w.sizes() == stack.sizes().slice(1) &&
              w.data_ptr() ==
                  static_cast<char*>(stack.data_ptr()) + e * stack.stride(0) * stack.element_size();
  }
  if (!aliased) {
    const torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> weights;  // El x [out, in]
    for (int64_t e = 0; e < options_.num_local_experts; ++e) weights.push_back(weight(e).detach());
    stack = torch::stack(weights);
    for (int64_t e = 0; e < options_.num_local_experts; ++e) weight(e).set_data(stack[e]);
  }
  return stack;
}

std::vector<torch::Tensor> ExpertBankImpl::grouped_parts(
    const torch::Tensor& rows, const std::vector<torch::Tensor>& expert_rows,
    const std::vector<int64_t>& rows_per_expert) {
  const int64_t experts = options_.num_local_experts;
  std::vector<bool> trainable(experts);
  std::vector<torch::Tensor> frozen_rows;  // per frozen expert with rows: [n_e, H]
  std::vector<int32_t> group_ends(experts);
  int64_t frozen_total = 0;
  for (int64_t e = 0; e < experts; ++e) {
    const auto params = experts_[e]->parameters();
    // Without grad mode (attribution, evaluation) every expert runs grouped.
    trainable[e] = torch::GradMode::is_enabled() &&
                   std::any_of(params.begin(), params.end(),
                               [](const torch::Tensor& w) { return w.requires_grad(); });
    if (!trainable[e] && rows_per_expert[e] > 0) frozen_rows.push_back(expert_rows[e]);
    frozen_total += trainable[e] ? 0 : rows_per_expert[e];
    group_ends[e] = static_cast<int32_t>(frozen_total);  // trainable experts: no rows here
  }
  torch::Tensor frozen_output;  // [R_frozen, H]
  if (frozen_total > 0) {
    const auto input = frozen_total == rows.size(0) ? rows.contiguous()
                                                    : torch::cat(frozen_rows, 0);  // [R_frozen, H]
    const auto ends = host_to_device(torch::tensor(group_ends, torch::kInt32), rows.device());
    const auto gate = grouped_linear(input, stacked_weights(0), ends);  // [R_frozen, F]
    const auto up = grouped_linear(input, stacked_weights(1), ends);    // [R_frozen, F]
    frozen_output = DenseGradient::apply(
        grouped_linear(torch::silu(gate) * up, stacked_weights(2), ends));  // [R_frozen, H]
  }
  // In expert order: each run of frozen experts as one slice, each trainable expert by itself.
  std::vector<torch::Tensor> outputs;
  int64_t run_start = 0, run_end = 0;  // the current frozen run in frozen_output
  const auto end_run = [&] {
    if (run_end > run_start)
      outputs.push_back(frozen_output.narrow(0, run_start, run_end - run_start));
    run_start = run_end;
  };
  for (int64_t e = 0; e < experts; ++e) {
    if (rows_per_expert[e] == 0) continue;
    if (trainable[e]) {
      end_run();
      outputs.push_back(experts_[e]->forward(expert_rows[e]));  // [n_e, H]
    } else {
      run_end += rows_per_expert[e];
    }
  }
  end_run();
  return outputs;
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
  if (uses_grouped_gemm(rows)) {
    outputs = grouped_parts(rows, parts, rows_per_expert);
  } else {
    for (int64_t e = 0; e < options_.num_local_experts; ++e) {
      if (rows_per_expert[e] > 0) outputs.push_back(experts_[e]->forward(parts[e]));  // [n_e, H]
    }
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
