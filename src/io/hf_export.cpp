#include "io/hf_export.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "common/check.h"
#include "common/files.h"
#include "io/checkpoint.h"
#include "io/hf_names.h"
#include "io/safetensors_checkpoint.h"
#include "io/safetensors_writer.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kOtherWeightFormats = {".bin", ".pt", ".pth", ".ckpt", ".gguf",
                                                   ".safetensors", ".msgpack", ".h5"};

std::string strip_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

void check_output_dir(const HfExportOptions& o, const std::string& out) {
  UOE_CHECK(!out.empty(), "export.output_dir must be set");
  const fs::path source = fs::weakly_canonical(o.source_dir);
  const fs::path target = fs::weakly_canonical(out);
  const auto mismatch = std::mismatch(source.begin(), source.end(), target.begin(), target.end());
  UOE_CHECK(mismatch.first != source.end(), "export.output_dir '", out,
            "' is the model directory or inside it ('", o.source_dir, "')");
  UOE_CHECK(!fs::exists(out) || o.overwrite, "export.output_dir '", out,
            "' exists; remove it or set export.overwrite=true to replace it");
}

// The delta's tensors under their HF names, converted to the checkpoint's dtypes.
std::map<std::string, torch::Tensor> delta_in_checkpoint_dtypes(const HfExportOptions& o,
                                                                 const SafetensorsCheckpoint& ckpt) {
  const Delta delta = read_delta(o.delta);
  std::map<std::string, torch::Tensor> changed;
  for (const auto& [name, tensor] : delta.tensors) {
    const std::string hf = hf_parameter_name(o.architecture, name);
    UOE_CHECK(ckpt.contains(hf), "delta '", o.delta, "': tensor '", name, "' (HF name '", hf,
              "') is not in ", o.source_dir, " (was the delta made from this model?)");
    const SafetensorsTensorInfo& info = ckpt.info(hf);
    UOE_CHECK(tensor.sizes().vec() == info.shape, "delta '", o.delta, "': tensor '", name,
              "' has shape ", tensor.sizes(), " but '", hf, "' in ", ckpt.file_of(hf).path(),
              " has shape ", c10::IntArrayRef(info.shape));
    changed.emplace(hf, tensor.to(info.dtype).contiguous());
  }
  return changed;
}

// Copies every file of `source` except the checkpoint's weights into `target`; returns what it
// left out and why.
std::vector<std::string> copy_other_files(const SafetensorsCheckpoint& ckpt, const fs::path& source,
                                          const fs::path& target) {
  std::set<std::string> weights(ckpt.shard_names().begin(), ckpt.shard_names().end());
  if (ckpt.is_sharded()) weights.insert(kSafetensorsIndexFile);
  std::vector<std::string> skipped;
  auto it = fs::recursive_directory_iterator(source, fs::directory_options::follow_directory_symlink);
  for (; it != fs::recursive_directory_iterator(); ++it) {
    const fs::path relative = fs::relative(it->path(), source);
    const std::string name = it->path().filename().string();
    if (name.front() == '.') {  // .git, .cache (download metadata)
      skipped.push_back(relative.string() + " (hidden)");
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory()) {
      fs::create_directories(target / relative);
      continue;
    }
    if (it.depth() == 0 && weights.count(name)) continue;
    if (kOtherWeightFormats.count(it->path().extension().string())) {
      skipped.push_back(relative.string() + " (weights in another format keep the original values)");
      continue;
    }
    fs::copy_file(it->path(), target / relative, fs::copy_options::overwrite_existing);
  }
  return skipped;
}

}  // namespace

HfExportReport export_hf_checkpoint(const HfExportOptions& options) {
  const std::string out = strip_trailing_slashes(options.output_dir);
  const SafetensorsCheckpoint ckpt(options.source_dir);
  check_output_dir(options, out);
  const auto changed = delta_in_checkpoint_dtypes(options, ckpt);

  const std::string tmp = out + ".tmp";
  fs::remove_all(tmp);
  make_directories(tmp, "export directory");
  HfExportReport report;
  report.skipped = copy_other_files(ckpt, options.source_dir, tmp);

  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < ckpt.shard_names().size(); ++i) {
    const SafetensorsFile& shard = ckpt.shard(i);
    std::vector<NamedTensor> tensors;
    for (const auto& info : shard.tensors()) {
      const auto it = changed.find(info.name);
      tensors.push_back({info.name, it != changed.end() ? it->second : shard.view(info.name)});
      weight_map[info.name] = ckpt.shard_names()[i];
      report.total_size += info.nbytes();
    }
    write_safetensors_file((fs::path(tmp) / ckpt.shard_names()[i]).string(), tensors,
                           shard.metadata());
  }
  if (ckpt.is_sharded()) {
    nlohmann::json metadata = ckpt.index_metadata();
    metadata.erase("total_size");
    write_safetensors_index(tmp, weight_map, report.total_size, metadata);
  }
  for (const auto& item : changed) report.changed.push_back(item.first);
  report.num_shards = ckpt.shard_names().size();

  std::error_code ec;
  fs::remove_all(out, ec);
  UOE_CHECK(!ec, "cannot remove the old export.output_dir '", out, "': ", ec.message());
  fs::rename(tmp, out, ec);
  UOE_CHECK(!ec, "cannot rename '", tmp, "' to '", out, "': ", ec.message());
  return report;
}

}  // namespace uoe
