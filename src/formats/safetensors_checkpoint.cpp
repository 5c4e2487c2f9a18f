#include "formats/safetensors_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/check.h"
#include "common/files.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_index(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  UOE_CHECK(in.good(), "cannot read '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, path, ": not valid JSON: ", e.what());
  }
  return {};
}

// A shard must be a plain file name: the index must not reach outside the model directory.
void check_shard_name(const std::string& shard, const std::string& tensor,
                      const std::string& index) {
  UOE_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..",
            index, ": tensor '", tensor, "' is mapped to '", shard,
            "', which is not a file name inside the model directory");
}

}  // namespace

bool SafetensorsCheckpoint::is_checkpoint_dir(const std::string& dir) {
  return is_file(fs::path(dir) / kSafetensorsSingleFile) ||
         is_file(fs::path(dir) / kSafetensorsIndexFile);
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir) : dir_(dir) {
  UOE_CHECK(is_dir(dir), "model directory '", dir, "' does not exist");
  const std::string single = (fs::path(dir) / kSafetensorsSingleFile).string();
  if (is_file(single)) {
    shard_names_ = {kSafetensorsSingleFile};
    shards_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& info : shards_[0]->tensors()) shard_of_[info.name] = 0;
    return;
  }
  const std::string index_path = (fs::path(dir) / kSafetensorsIndexFile).string();
  UOE_CHECK(is_file(index_path), "'", dir, "' has neither ", kSafetensorsSingleFile, " nor ",
            kSafetensorsIndexFile, " (only safetensors weights are supported)");
  sharded_ = true;
  const nlohmann::json index = read_index(index_path);
  UOE_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            index_path, ": expected an object with a \"weight_map\" object");
  if (index.contains("metadata")) {
    UOE_CHECK(index["metadata"].is_object(), index_path, ": \"metadata\" must be an object");
    index_metadata_ = index["metadata"];
  }
  std::map<std::string, std::string> weight_map;
  std::set<std::string> names;
  for (const auto& item : index["weight_map"].items()) {
    UOE_CHECK(item.value().is_string(), index_path, ": weight_map value of '", item.key(),
              "' must be a file name");
    const std::string shard = item.value().get<std::string>();
    check_shard_name(shard, item.key(), index_path);
    weight_map.emplace(item.key(), shard);
    names.insert(shard);
  }
  shard_names_.assign(names.begin(), names.end());
  std::map<std::string, size_t> position;
  for (const auto& shard : shard_names_) {
    const std::string path = (fs::path(dir) / shard).string();
    UOE_CHECK(is_file(path), index_path, ": shard '", shard, "' does not exist in ", dir);
    position[shard] = shards_.size();
    shards_.push_back(std::make_unique<SafetensorsFile>(path));
  }
  for (const auto& [tensor, shard] : weight_map) {
    const size_t i = position.at(shard);
    UOE_CHECK(shards_[i]->contains(tensor), index_path, ": tensor '", tensor, "' is mapped to '",
              shard, "', which does not contain it");
    shard_of_[tensor] = i;
  }
  for (size_t i = 0; i < shards_.size(); ++i) {
    for (const auto& info : shards_[i]->tensors()) {
      const auto it = weight_map.find(info.name);
      UOE_CHECK(it != weight_map.end() && it->second == shard_names_[i], shards_[i]->path(),
                ": tensor '", info.name, "' is ",
                it == weight_map.end() ? std::string("not in the weight_map of ")
                                       : "mapped to '" + it->second + "' by ",
                index_path);
    }
  }
}

std::vector<std::string> SafetensorsCheckpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(shard_of_.size());
  for (const auto& item : shard_of_) names.push_back(item.first);
  return names;
}

const SafetensorsFile& SafetensorsCheckpoint::file_of(const std::string& name) const {
  const auto it = shard_of_.find(name);
  UOE_CHECK(it != shard_of_.end(), dir_, ": the checkpoint has no tensor '", name, "'");
  return *shards_[it->second];
}

}  // namespace uoe
