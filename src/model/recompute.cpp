#include "model/recompute.h"

#include <torch/csrc/autograd/functions/utils.h>

#include "common/check.h"
#include "parallel/autograd_node.h"

namespace uoe {
namespace {

// The outputs of a decoder layer that losses differentiate, in a fixed order: hidden [B, S, H],
// then on MoE layers the router's logits and probs [T, E].
std::vector<torch::Tensor> differentiable_outputs(const DecoderOutput& out) {
  std::vector<torch::Tensor> outputs{out.hidden};
  if (out.moe) {
    outputs.push_back(out.moe->routing.logits);
    outputs.push_back(out.moe->routing.probs);
  }
  return outputs;
}

bool needs_gradient(DecoderLayerImpl& layer, const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled()) return false;
  if (x.requires_grad()) return true;
  for (const auto& param : layer.parameters()) {
    if (param.requires_grad()) return true;
  }
  // A frozen layer still sends gradients of other ranks' tokens back when some expert trains.
  return layer.is_moe() && layer.moe_mlp->experts->any_expert_trainable();
}

// Backward of recomputed_forward: recomputes the layer and back-propagates through it.
class RecomputeBackward : public torch::autograd::Node {
 public:
  RecomputeBackward(DecoderLayer layer, const torch::Tensor& input, RotaryTables rotary,
                    std::unique_ptr<ExchangeRecord> record)
      : layer_(std::move(layer)),
        input_(input.detach()),
        input_requires_grad_(input.requires_grad()),
        rotary_(std::move(rotary)),
        record_(std::move(record)) {}

  std::string name() const override { return "uoe::RecomputeBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    UOE_ASSERT(input_.defined(),
               "a recomputed layer's backward ran twice (gradient_checkpointing keeps no graph)");
    torch::AutoGradMode grad_mode(true);
    auto x = input_.requires_grad_(input_requires_grad_);  // [B, S, H], a leaf
    input_ = torch::Tensor();
    if (record_) record_->replay = true;
    const DecoderOutput out = layer_->forward(x, rotary_, nullptr, record_.get());
    record_.reset();  // what the graph needs of it, the graph holds
    const auto outputs = differentiable_outputs(out);
    std::vector<torch::Tensor> roots, root_grads;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (grads[i].defined() && outputs[i].requires_grad()) {
        roots.push_back(outputs[i]);
        root_grads.push_back(grads[i]);
      }
    }
    if (roots.empty()) {
      // No gradient arrived: back-propagate zeros all the same, as the graph without
      // recomputation would, so the reverse exchanges stay in step with the other ranks.
      roots.push_back(outputs[0]);
      root_grads.push_back(torch::zeros_like(outputs[0]));
    }
    torch::autograd::backward(roots, root_grads);
    return {input_requires_grad_ ? x.grad() : torch::Tensor()};
  }

 private:
  DecoderLayer layer_;
  torch::Tensor input_;  // [B, S, H] detached; released once the recomputation has started
  bool input_requires_grad_;
  RotaryTables rotary_;
  std::unique_ptr<ExchangeRecord> record_;  // MoE layers only
};

}  // namespace

DecoderOutput recomputed_forward(DecoderLayer& layer, const torch::Tensor& x,
                                 const RotaryTables& rotary) {
  if (!needs_gradient(*layer, x)) return layer->forward(x, rotary);
  auto record = layer->is_moe() ? std::make_unique<ExchangeRecord>() : nullptr;
  DecoderOutput out;
  {
    torch::NoGradGuard no_grad;
    out = layer->forward(x, rotary, nullptr, record.get());
  }
  auto node = make_node<RecomputeBackward>(layer, x, rotary, std::move(record));
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  for (auto& output : differentiable_outputs(out)) torch::autograd::set_history(output, node);
  return out;
}

}  // namespace uoe
