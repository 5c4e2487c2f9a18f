#pragma once
// Writing safetensors files and sharded Hugging Face weight directories (the format is described
// in formats/safetensors.h). Tensors keep their names and dtypes (F32, BF16, F16, I64); the data
// section holds them back to back in the order given; the header is padded with spaces to a
// multiple of 8 bytes, as the safetensors library does. Every file is written under a temporary
// name and renamed when complete.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace uoe {

struct NamedTensor {
  std::string name;
  torch::Tensor tensor;  // CPU; any strides (written contiguously); may be a mapped view
};

// transformers refuses safetensors files whose metadata lacks a "format" it knows.
inline const std::map<std::string, std::string> kPytorchSafetensorsMetadata = {{"format", "pt"}};

// Writes one file. Throws InputError naming the file and tensor for a repeated name, a non-CPU
// tensor or an unsupported dtype (nothing is written then).
void write_safetensors_file(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata = kPytorchSafetensorsMetadata);

// Writes <dir>/model.safetensors.index.json: {"metadata": metadata + {"total_size": total_size},
// "weight_map": weight_map}.
void write_safetensors_index(const std::string& dir,
                             const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size,
                             nlohmann::json metadata = nlohmann::json::object());

// Writes `tensors` (in order) to <dir> (which must exist) as HF weights: one model.safetensors
// when they fit in `max_shard_bytes`, otherwise model-0000i-of-0000N.safetensors shards of at most
// max_shard_bytes each (a larger tensor gets a shard of its own) plus the index.
// Returns the shard file names.
std::vector<std::string> write_safetensors_checkpoint(const std::string& dir,
                                                      const std::vector<NamedTensor>& tensors,
                                                      uint64_t max_shard_bytes);

}  // namespace uoe
