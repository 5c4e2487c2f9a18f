#pragma once
// The weights of a Hugging Face model directory: either one `model.safetensors` or shards listed
// by `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {"<tensor>":
// "<shard file>"}}). When both exist, model.safetensors is used (as transformers does).
//
// Opening validates the whole directory before any tensor is read: every shard named in the index
// is a plain file name inside the directory, exists and is a valid safetensors file; every tensor
// of the weight map is in the shard it is mapped to, and every tensor of a shard is in the weight
// map, mapped to that shard. Shards are memory-mapped, so opening reads headers only.
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace uoe {

constexpr const char* kSafetensorsSingleFile = "model.safetensors";
constexpr const char* kSafetensorsIndexFile = "model.safetensors.index.json";

class SafetensorsCheckpoint {
 public:
  // InputError naming the directory, file or tensor for anything wrong.
  explicit SafetensorsCheckpoint(const std::string& dir);

  // Whether `dir` holds model.safetensors or model.safetensors.index.json.
  static bool is_checkpoint_dir(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool is_sharded() const { return sharded_; }
  // Shard file names (relative to dir) in the order of the index (sorted), or {model.safetensors}.
  const std::vector<std::string>& shard_names() const { return shard_names_; }
  const SafetensorsFile& shard(size_t i) const { return *shards_.at(i); }
  // Every tensor name, sorted.
  std::vector<std::string> tensor_names() const;
  bool contains(const std::string& name) const { return shard_of_.count(name) > 0; }
  // The shard holding `name`; InputError naming the directory when the tensor is absent.
  const SafetensorsFile& file_of(const std::string& name) const;
  const SafetensorsTensorInfo& info(const std::string& name) const {
    return file_of(name).info(name);
  }
  // The "metadata" object of the index (empty for a single file).
  const nlohmann::json& index_metadata() const { return index_metadata_; }

 private:
  std::string dir_;
  bool sharded_ = false;
  std::vector<std::string> shard_names_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t> shard_of_;  // tensor -> position in shards_
  nlohmann::json index_metadata_ = nlohmann::json::object();
};

}  // namespace uoe
