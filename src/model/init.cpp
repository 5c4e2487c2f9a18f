#include "model/init.h"

#include "common/hashing.h"

namespace uoe {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void initialize_parameters(torch::nn::Module& module, uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    auto& p = item.value();
    if (ends_with(name, "norm.weight")) {
      p.fill_(1.0);
    } else if (ends_with(name, ".bias")) {
      p.zero_();
    } else {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(fnv1a(name, seed));
      auto values = torch::empty(p.sizes(), torch::kFloat32);
      values.normal_(0.0, std, gen);
      p.copy_(values);
    }
  }
}

}  // namespace uoe
