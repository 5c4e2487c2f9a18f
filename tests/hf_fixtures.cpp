#include "hf_fixtures.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/check.h"

namespace uoe::test {
namespace {

torch::ScalarType dtype_of(const std::string& name, const std::string& path) {
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F16") return torch::kFloat16;
  if (name == "I64") return torch::kInt64;
  UOE_CHECK(false, path, ": dtype ", name, " not handled by the test reader");
  return torch::kFloat32;
}

void replace_once(std::string& s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
}

}  // namespace

SafetensorsContents read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  UOE_CHECK(in, "cannot open ", path);
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SafetensorsContents out;
  const auto entries = nlohmann::json::parse(header);
  for (const auto& [name, info] : entries.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : info.items()) out.metadata[key] = value.get<std::string>();
      continue;
    }
    const auto begin = info["data_offsets"][0].get<size_t>();
    const auto end = info["data_offsets"][1].get<size_t>();
    const auto shape = info["shape"].get<std::vector<int64_t>>();
    const auto dtype = dtype_of(info["dtype"].get<std::string>(), path);
    auto tensor = torch::empty(shape, dtype);
    UOE_CHECK(end <= data.size() && end - begin == static_cast<size_t>(tensor.nbytes()), path,
              ": bad offsets of ", name);
    std::memcpy(tensor.data_ptr(), data.data() + begin, end - begin);
    out.tensors[name] = dtype == torch::kInt64 ? tensor : tensor.to(torch::kFloat32);
  }
  return out;
}

std::string hf_name(const std::string& architecture, const std::string& name) {
  if (name == "lm_head.weight") return name;
  std::string hf = "model." + name;
  if (architecture == "MixtralForCausalLM") {
    replace_once(hf, ".mlp.", ".block_sparse_moe.");
    replace_once(hf, ".gate_proj.", ".w1.");
    replace_once(hf, ".down_proj.", ".w2.");
    replace_once(hf, ".up_proj.", ".w3.");
  } else if (architecture == "Qwen2MoeForCausalLM") {
    replace_once(hf, ".mlp.shared_experts.", ".mlp.shared_expert.");
  }
  return hf;
}

void load_hf_weights(const std::string& dir, CausalLM& model) {
  const auto weights = read_safetensors(dir + "/model.safetensors").tensors;
  const std::string& arch = model->config().architecture;
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& target) {
    const auto it = weights.find(hf_name(arch, name));
    ASSERT_NE(it, weights.end()) << dir << ": no tensor " << hf_name(arch, name);
    ASSERT_EQ(it->second.sizes(), target.sizes()) << name;
    target.copy_(it->second);
  };
  for (auto& item : model->named_parameters()) copy(item.key(), item.value());
  for (auto& item : model->named_buffers()) copy(item.key(), item.value());
}

}  // namespace uoe::test
