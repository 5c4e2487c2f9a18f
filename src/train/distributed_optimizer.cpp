#include "train/distributed_optimizer.h"

#include <cmath>

#include "common/check.h"
#include "train/grad_clip.h"

namespace uoe {
namespace {

// fp32 parameters are their own master; others get an fp32 leaf copy.
std::vector<torch::Tensor> master_copies(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> masters;
  for (const auto& p : params) {
    if (p.scalar_type() == torch::kFloat32) {
      masters.push_back(p);
    } else {
      masters.push_back(p.detach().to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true));
      masters.back().set_requires_grad(true);
    }
  }
  return masters;
}

// Calls f(parameter, master) for every parameter that has a separate master copy.
template <typename F>
void for_each_copy(const GradientGroups& params, const GradientGroups& masters, F f) {
  for (const auto group : {&GradientGroups::dense, &GradientGroups::expert}) {
    const auto& p = params.*group;
    const auto& m = masters.*group;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!p[i].is_same(m[i])) f(p[i], m[i]);
    }
  }
}

}  // namespace

DistributedOptimizer::DistributedOptimizer(GradientGroups params, const TrainingConfig& config,
                                           const ProcessGroups& groups)
    : params_(std::move(params)),
      masters_{master_copies(params_.dense), master_copies(params_.expert)},
      groups_(groups),
      max_grad_norm_(config.max_grad_norm) {
  std::vector<torch::Tensor> all = masters_.dense;
  all.insert(all.end(), masters_.expert.begin(), masters_.expert.end());
  auto options = torch::optim::AdamWOptions(config.learning_rate)
                     .betas({config.adam_beta1, config.adam_beta2})
                     .eps(config.adam_epsilon)
                     .weight_decay(config.weight_decay);
  adamw_ = std::make_unique<torch::optim::AdamW>(all, options);
}

void DistributedOptimizer::zero_grad() {
  for (const auto* set : {&params_, &masters_}) {
    for (const auto* group : {&set->dense, &set->expert}) {
      for (const auto& p : *group) {
        if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
      }
    }
  }
}

void DistributedOptimizer::accumulate_gradients() {
  for_each_copy(params_, masters_, [](const torch::Tensor& p, const torch::Tensor& m) {
    if (!p.grad().defined()) return;
    if (m.grad().defined()) {
      m.mutable_grad().add_(p.grad().to(torch::kFloat32));
    } else {
      m.mutable_grad() = p.grad().to(torch::kFloat32);
    }
    p.mutable_grad() = torch::Tensor();  // the master's is the one synchronised and clipped
  });
}

void DistributedOptimizer::masters_to_parameters() {
  torch::NoGradGuard no_grad;
  for_each_copy(params_, masters_,
                [](const torch::Tensor& p, const torch::Tensor& m) { p.copy_(m); });
}

double DistributedOptimizer::step(double learning_rate, StepProfiler* profiler) {
  accumulate_gradients();
  {
    const StepProfiler::Scope timer(profiler, "grad_reduction");
    sync_gradients(masters_, groups_);
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
                        bytes_of(masters_.dense, *groups_.dp().data) +
                            bytes_of(masters_.expert, *groups_.expert_dp().data));
  }
  const StepProfiler::Scope timer(profiler, "optimizer");
  const double norm = clip_grad_norm(masters_, groups_, max_grad_norm_);
  if (!std::isfinite(norm)) return norm;
  for (auto& group : adamw_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
  }
  adamw_->step();
  masters_to_parameters();
  return norm;
}

namespace {
constexpr const char* kMasterKey = "master_copies";
}  // namespace

void DistributedOptimizer::save(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  adamw_->save(archive);
  std::vector<torch::Tensor> copies;
  for_each_copy(params_, masters_, [&](const torch::Tensor&, const torch::Tensor& m) {
    copies.push_back(m.detach().reshape({-1}));
  });
  if (!copies.empty()) archive.write(kMasterKey, torch::cat(copies));
  archive.save_to(path);
}

void DistributedOptimizer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  // The state goes to the device of the parameters it belongs to, wherever it was saved from.
  c10::optional<torch::Device> device;  // c10:: for LibTorch 1.13
  for (const auto* group : {&masters_.dense, &masters_.expert}) {
    if (!device && !group->empty()) device = group->front().device();
  }
  try {
    archive.load_from(path, device);
    adamw_->load(archive);
    torch::Tensor flat;
    const bool has_masters = archive.try_read(kMasterKey, flat);
    // A resumed run keeps the precision it was started with.
    UOE_CHECK(has_masters == (master_bytes() > 0), "optimizer state '", path,
              "' was written by a run with bf16: ", has_masters ? "true" : "false",
              "; resume it with the same bf16 setting");
    if (has_masters) {
      UOE_CHECK(flat.numel() * 4 == master_bytes(), "optimizer state '", path, "' has ",
                flat.numel(), " master values, this rank has ", master_bytes() / 4);
      torch::NoGradGuard no_grad;
      int64_t offset = 0;
      for_each_copy(params_, masters_, [&](const torch::Tensor&, const torch::Tensor& m) {
        m.copy_(flat.narrow(0, offset, m.numel()).view_as(m));
        offset += m.numel();
      });
      masters_to_parameters();
    }
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
  int64_t bytes = master_bytes();
  for (const auto& item : adamw_->state()) {
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(*item.second);
    for (const auto& t : {state.exp_avg(), state.exp_avg_sq(), state.max_exp_avg_sq()}) {
      if (t.defined()) bytes += t.numel() * t.element_size();
    }
  }
  return bytes;
}

int64_t DistributedOptimizer::master_bytes() const {
  int64_t bytes = 0;
  for_each_copy(params_, masters_, [&](const torch::Tensor&, const torch::Tensor& m) {
    bytes += m.numel() * m.element_size();
  });
  return bytes;
}

}  // namespace uoe
