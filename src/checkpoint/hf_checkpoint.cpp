#include "checkpoint/hf_checkpoint.h"

#include <map>
#include <set>
#include <sstream>

#include "checkpoint/expert_names.h"
#include "checkpoint/hf_names.h"
#include "common/check.h"
#include "common/log.h"

namespace uoe {
namespace {

struct ExpectedTensor {
  std::string internal_name;
  std::vector<int64_t> shape;
  torch::Tensor target;  // undefined for another rank's expert
};

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << c10::IntArrayRef(shape);
  return out.str();
}

// HF name -> what the full model (all experts, whichever rank owns them) expects there.
std::map<std::string, ExpectedTensor> expected_tensors(const CausalLM& model,
                                                       const std::string& architecture) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : model->named_parameters()) state.emplace(item.key(), item.value());
  for (const auto& item : model->named_buffers()) state.emplace(item.key(), item.value());

  std::map<std::string, ExpectedTensor> expected;
  auto add = [&](const std::string& internal, const torch::Tensor& like, torch::Tensor target) {
    const std::string hf = hf_parameter_name(architecture, internal);
    const auto [it, inserted] =
        expected.emplace(hf, ExpectedTensor{internal, like.sizes().vec(), target});
    UOE_ASSERT(inserted || it->second.internal_name == internal, "parameters '", internal,
               "' and '", it->second.internal_name, "' both map to '", hf, "'");
  };
  const int64_t num_experts = model->config().num_experts;
  std::set<std::pair<int64_t, std::string>> expanded;  // (layer, rest) done for all experts
  for (const auto& [name, tensor] : state) {
    const auto expert = parse_expert_name(name);
    if (!expert) {
      add(name, tensor, tensor);
      continue;
    }
    if (!expanded.emplace(expert->layer, expert->rest).second) continue;
    for (int64_t id = 0; id < num_experts; ++id) {  // experts of one layer share shapes
      ExpertName other = *expert;
      other.id = id;
      const std::string other_name = other.str();
      const auto own = state.find(other_name);
      add(other_name, tensor, own == state.end() ? torch::Tensor() : own->second);
    }
  }
  return expected;
}

void check_checkpoint(const SafetensorsCheckpoint& checkpoint,
                      const std::map<std::string, ExpectedTensor>& expected,
                      const std::string& architecture, const ModelConfig& config) {
  const std::string arch = architecture.empty() ? std::string("uoe") : architecture;
  for (const auto& [hf, want] : expected) {
    if (!checkpoint.contains(hf)) {
      UOE_CHECK(hf_tensor_is_unused(architecture, config, hf), checkpoint.dir(),
                ": missing tensor '", hf, "' (parameter '", want.internal_name, "', shape ",
                shape_str(want.shape), ", architecture ", arch, ")");
      continue;
    }
    const auto& info = checkpoint.info(hf);
    UOE_CHECK(info.shape == want.shape, checkpoint.file_of(hf).path(), ": tensor '", hf,
              "' has shape ", shape_str(info.shape), " but the model expects ",
              shape_str(want.shape), " (parameter '", want.internal_name, "')");
    UOE_CHECK(c10::isFloatingType(info.dtype), checkpoint.file_of(hf).path(), ": tensor '", hf,
              "' has dtype ", info.dtype, "; weights must be F32, BF16 or F16");
  }
  std::vector<std::string> unknown;
  for (const auto& name : checkpoint.tensor_names()) {
    if (!expected.count(name) && !hf_tensor_is_unused(architecture, config, name)) {
      unknown.push_back(name);
    }
  }
  if (unknown.empty()) return;
  std::ostringstream list;
  for (size_t i = 0; i < unknown.size() && i < 5; ++i)
    list << (i ? ", " : "") << "'" << unknown[i] << "'";
  if (unknown.size() > 5) list << ", ...";
  UOE_CHECK(false, checkpoint.file_of(unknown.front()).path(), ": ", unknown.size(),
            " tensor(s) the model (architecture ", arch, ", ", config.num_hidden_layers,
            " layers, ", config.num_experts, " experts) does not have: ", list.str(),
            " (does config.json match the weights?)");
}

}  // namespace

HfLoadReport load_hf_checkpoint(const SafetensorsCheckpoint& checkpoint, CausalLM& model,
                                const std::string& architecture) {
  const auto expected = expected_tensors(model, architecture);
  check_checkpoint(checkpoint, expected, architecture, model->config());

  torch::NoGradGuard no_grad;
  HfLoadReport report;
  for (const auto& [hf, want] : expected) {
    if (!want.target.defined() || !checkpoint.contains(hf)) continue;
    const SafetensorsFile& file = checkpoint.file_of(hf);
    want.target.copy_(file.view(hf));
    file.release(hf);
    ++report.num_tensors;
    report.checkpoint_bytes += static_cast<int64_t>(file.info(hf).nbytes());
    const int64_t bytes = want.target.numel() * want.target.element_size();
    (CausalLMImpl::is_expert_parameter(want.internal_name) ? report.expert_bytes
                                                           : report.dense_bytes) += bytes;
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  log_all("loaded ", report.num_tensors, " tensors from ", checkpoint.dir(), " (",
          report.checkpoint_bytes / kMiB, " MiB read): resident ",
          (report.dense_bytes + report.expert_bytes) / kMiB, " MiB = dense ",
          report.dense_bytes / kMiB, " MiB + own experts ", report.expert_bytes / kMiB, " MiB");
  return report;
}

}  // namespace uoe
