#include "formats/safetensors_writer.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "common/check.h"
#include "common/files.h"
#include "formats/safetensors.h"
#include "formats/safetensors_checkpoint.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

void write_le_u64(std::ostream& out, uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.write(bytes, 8);
}

uint64_t byte_size(const torch::Tensor& t) { return t.numel() * t.element_size(); }

// "model-00002-of-00005.safetensors"
std::string shard_file_name(size_t i, size_t n) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return name;
}

}  // namespace

void write_safetensors_file(const std::string& path, const std::vector<NamedTensor>& tensors,
                            const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const std::string where = c10::str(path, ": tensor '", name, "'");
    UOE_CHECK(name != "__metadata__" && names.insert(name).second, where,
              ": the name is repeated or reserved");
    UOE_CHECK(tensor.defined() && tensor.device().is_cpu(), where, ": must be a CPU tensor");
    const uint64_t nbytes = byte_size(tensor);
    header[name] = {{"dtype", safetensors_dtype_name(tensor.scalar_type(), where)},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomic(path, [&](std::ofstream& out) {
    write_le_u64(out, text.size());
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& item : tensors) {
      const torch::Tensor data = item.tensor.contiguous();
      out.write(static_cast<const char*>(data.data_ptr()),
                static_cast<std::streamsize>(byte_size(data)));
    }
  });
}

void write_safetensors_index(const std::string& dir,
                             const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size, nlohmann::json metadata) {
  metadata["total_size"] = total_size;
  write_json_atomic((fs::path(dir) / kSafetensorsIndexFile).string(),
                    {{"metadata", metadata}, {"weight_map", weight_map}});
}

std::vector<std::string> write_safetensors_checkpoint(const std::string& dir,
                                                      const std::vector<NamedTensor>& tensors,
                                                      uint64_t max_shard_bytes) {
  UOE_CHECK(max_shard_bytes > 0, "safetensors shard size must be > 0");
  std::vector<std::vector<NamedTensor>> shards(1);
  uint64_t shard_bytes = 0, total_size = 0;
  std::set<std::string> names_seen;
  for (const auto& item : tensors) {
    UOE_CHECK(names_seen.insert(item.name).second, dir, ": tensor '", item.name,
              "' is given twice");
    const uint64_t nbytes = byte_size(item.tensor);
    if (!shards.back().empty() && shard_bytes + nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(item);
    shard_bytes += nbytes;
    total_size += nbytes;
  }
  if (shards.size() == 1) {
    write_safetensors_file((fs::path(dir) / kSafetensorsSingleFile).string(), tensors);
    return {kSafetensorsSingleFile};
  }
  std::vector<std::string> names;
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < shards.size(); ++i) {
    names.push_back(shard_file_name(i, shards.size()));
    write_safetensors_file((fs::path(dir) / names.back()).string(), shards[i]);
    for (const auto& item : shards[i]) weight_map[item.name] = names.back();
  }
  write_safetensors_index(dir, weight_map, total_size);
  return names;
}

}  // namespace uoe
