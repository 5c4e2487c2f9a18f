#include "train/distributed_optimizer.h"

#include <cmath>

#include "common/check.h"
#include "train/grad_clip.h"

namespace uoe {

DistributedOptimizer::DistributedOptimizer(GradientGroups params, const TrainingConfig& config,
                                           const ProcessGroups& groups)
    : params_(std::move(params)), groups_(groups), max_grad_norm_(config.max_grad_norm) {
  std::vector<torch::Tensor> all = params_.dense;
  all.insert(all.end(), params_.expert.begin(), params_.expert.end());
  auto options = torch::optim::AdamWOptions(config.learning_rate)
                     .betas({config.adam_beta1, config.adam_beta2})
                     .eps(config.adam_epsilon)
                     .weight_decay(config.weight_decay);
  adamw_ = std::make_unique<torch::optim::AdamW>(all, options);
}

void DistributedOptimizer::zero_grad() {
  for (const auto* group : {&params_.dense, &params_.expert}) {
    for (const auto& p : *group) {
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
    }
  }
}

double DistributedOptimizer::step(double learning_rate, StepProfiler* profiler) {
  {
    const StepProfiler::Scope timer(profiler, "grad_reduction");
    sync_gradients(params_, groups_);
  }
  if (profiler) {
    // all_reduce_flat skips groups of one rank.
    const auto bytes_of = [](const std::vector<torch::Tensor>& list, const Communicator& comm) {
      double bytes = 0.0;
      if (comm.size() > 1) {
        for (const auto& p : list) bytes += double(p.numel()) * double(p.element_size());
      }
      return bytes;
    };
    profiler->add_bytes("grad_all_reduce", StepProfiler::kNoLayer,
                        bytes_of(params_.dense, *groups_.dp().data) +
                            bytes_of(params_.expert, *groups_.expert_dp().data));
  }
  const StepProfiler::Scope timer(profiler, "optimizer");
  const double norm = clip_grad_norm(params_, groups_, max_grad_norm_);
  if (!std::isfinite(norm)) return norm;
  for (auto& group : adamw_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
  }
  adamw_->step();
  return norm;
}

void DistributedOptimizer::save(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  adamw_->save(archive);
  archive.save_to(path);
}

void DistributedOptimizer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
    adamw_->load(archive);
  } catch (const c10::Error& e) {
    UOE_CHECK(false, "cannot load optimizer state '", path, "': ", e.what_without_backtrace());
  }
}

int64_t DistributedOptimizer::num_trainable_elements() const {
  int64_t n = 0;
  for (const auto& p : params_.dense) n += p.numel();
  for (const auto& p : params_.expert) n += p.numel();
  return n;
}

int64_t DistributedOptimizer::state_bytes() const {
  int64_t bytes = 0;
  for (const auto& item : adamw_->state()) {
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(*item.second);
    for (const auto& t : {state.exp_avg(), state.exp_avg_sq(), state.max_exp_avg_sq()}) {
      if (t.defined()) bytes += t.numel() * t.element_size();
    }
  }
  return bytes;
}

}  // namespace uoe
