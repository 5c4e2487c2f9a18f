#include "checkpoint/hf_export.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_names.h"
#include "common/check.h"
#include "common/files.h"
#include "formats/safetensors_checkpoint.h"
#include "formats/safetensors_writer.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kOtherWeightFormats = {".bin",  ".pt",          ".pth",     ".ckpt",
                                                   ".gguf", ".safetensors", ".msgpack", ".h5"};

std::string strip_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// How much rounding the delta's values `x` to `r` (the checkpoint's dtype) moved them; `o` is the
// checkpoint's original tensor. ExportedTensor (checkpoint/hf_export.h) defines the measures.
void measure_rounding(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& o,
                      ExportedTensor& t) {
  if (x.numel() == 0) return;
  const auto x64 = x.to(torch::kFloat64), r64 = r.to(torch::kFloat64), o64 = o.to(torch::kFloat64);
  const auto error = r64 - x64;  // same shape as the tensor
  const auto update = x64 - o64;
  const double error_norm = error.norm().item<double>();
  const double x_max = x64.abs().max().item<double>(), x_norm = x64.norm().item<double>();
  const double update_norm = update.norm().item<double>();
  t.max_abs_error = error.abs().max().item<double>();
  t.rel_max_error = x_max > 0 ? t.max_abs_error / x_max : 0.0;
  t.rel_l2_error = x_norm > 0 ? error_norm / x_norm : 0.0;
  t.update_rel_l2_error = update_norm > 0 ? error_norm / update_norm : 0.0;
  const auto updated = update != 0;
  t.updated_elements = updated.sum().item<int64_t>();
  t.updated_elements_lost = (updated & (r64 == o64)).sum().item<int64_t>();
}

// The delta's tensors under their HF names, rounded to the checkpoint's dtypes, with what the
// rounding did.
struct ChangedTensor {
  torch::Tensor tensor;  // contiguous, in the checkpoint's dtype
  ExportedTensor report;
};

std::map<std::string, ChangedTensor> delta_in_checkpoint_dtypes(const HfExportOptions& o,
                                                                const SafetensorsCheckpoint& ckpt,
                                                                const Delta& delta) {
  std::map<std::string, ChangedTensor> changed;
  for (const auto& [name, tensor] : delta.tensors) {
    const std::string hf = hf_parameter_name(o.architecture, name);
    UOE_CHECK(ckpt.contains(hf), "delta '", o.delta, "': tensor '", name, "' (HF name '", hf,
              "') is not in ", o.source_dir, " (was the delta made from this model?)");
    const SafetensorsTensorInfo& info = ckpt.info(hf);
    const SafetensorsFile& file = ckpt.file_of(hf);
    UOE_CHECK(tensor.sizes().vec() == info.shape, "delta '", o.delta, "': tensor '", name,
              "' has shape ", tensor.sizes(), " but '", hf, "' in ", file.path(), " has shape ",
              c10::IntArrayRef(info.shape));
    ChangedTensor c{tensor.to(info.dtype).contiguous(),
                    {hf, name, safetensors_dtype_name(info.dtype, file.path())}};
    UOE_CHECK(torch::isfinite(c.tensor).all().item<bool>(), "delta '", o.delta, "': tensor '", name,
              "' has values that are not finite in ", c.report.dtype, " (the dtype of '", hf,
              "' in ", file.path(), ")");
    measure_rounding(tensor, c.tensor, file.view(hf), c.report);
    changed.emplace(hf, std::move(c));
  }
  return changed;
}

nlohmann::json to_json(const ExportedTensor& t) {
  return {{"name", t.name},
          {"parameter", t.parameter},
          {"dtype", t.dtype},
          {"max_abs_error", t.max_abs_error},
          {"rel_max_error", t.rel_max_error},
          {"rel_l2_error", t.rel_l2_error},
          {"update_rel_l2_error", t.update_rel_l2_error},
          {"updated_elements", t.updated_elements},
          {"updated_elements_lost", t.updated_elements_lost}};
}

// The content of export_report.json.
nlohmann::json report_json(const HfExportOptions& o, const HfExportReport& report) {
  nlohmann::json changed = nlohmann::json::array(), worst = nlohmann::json::object();
  for (const auto& t : report.changed) changed.push_back(to_json(t));
  for (const auto& [key, field] :
       {std::make_pair("rel_max_error", &ExportedTensor::rel_max_error),
        std::make_pair("update_rel_l2_error", &ExportedTensor::update_rel_l2_error)}) {
    const ExportedTensor* t = worst_rounding(report, field);
    worst[key] = t ? nlohmann::json{{"name", t->name}, {"value", t->*field}} : nlohmann::json();
  }
  return {{"source", o.source_dir},
          {"delta", o.delta},
          {"provenance", report.provenance},
          {"num_shards", report.num_shards},
          {"total_size", report.total_size},
          {"changed", changed},
          {"worst", worst},
          {"not_copied", report.skipped}};
}

// Copies every file of `source` except the checkpoint's weights into `target`; returns what it
// left out and why.
std::vector<std::string> copy_other_files(const SafetensorsCheckpoint& ckpt, const fs::path& source,
                                          const fs::path& target) {
  std::set<std::string> weights(ckpt.shard_names().begin(), ckpt.shard_names().end());
  if (ckpt.is_sharded()) weights.insert(kSafetensorsIndexFile);
  std::vector<std::string> skipped;
  auto it =
      fs::recursive_directory_iterator(source, fs::directory_options::follow_directory_symlink);
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
      skipped.push_back(relative.string() +
                        " (weights in another format keep the original values)");
      continue;
    }
    fs::copy_file(it->path(), target / relative, fs::copy_options::overwrite_existing);
  }
  return skipped;
}

}  // namespace

void check_hf_export_options(const HfExportOptions& o) {
  UOE_CHECK(SafetensorsCheckpoint::is_checkpoint_dir(o.source_dir), "model_name_or_path '",
            o.source_dir, "' is not an HF model directory with safetensors weights (",
            kSafetensorsSingleFile, " or ", kSafetensorsIndexFile,
            "): uoe export writes HF format");
  UOE_CHECK(!o.delta.empty(), "uoe export needs delta (the delta.h5 of uoe unlearn)");
  UOE_CHECK(is_file(o.delta), "delta '", o.delta, "' does not exist");
  const std::string out = strip_trailing_slashes(o.output_dir);
  UOE_CHECK(!out.empty(), "uoe export needs export.output_dir");
  const bool out_exists = path_exists(out);  // first: a path the system cannot look up is named
  const fs::path source = fs::weakly_canonical(o.source_dir);
  const fs::path target = fs::weakly_canonical(out);
  const auto mismatch = std::mismatch(source.begin(), source.end(), target.begin(), target.end());
  UOE_CHECK(mismatch.first != source.end(), "export.output_dir '", out,
            "' is the model directory or inside it ('", o.source_dir, "')");
  UOE_CHECK(!out_exists || o.overwrite, "export.output_dir '", out,
            "' exists; remove it or set export.overwrite=true to replace it");
}

HfExportReport export_hf_checkpoint(const HfExportOptions& options) {
  check_hf_export_options(options);
  const std::string out = strip_trailing_slashes(options.output_dir);
  const SafetensorsCheckpoint ckpt(options.source_dir);
  const Delta delta = read_delta(options.delta);
  const auto changed = delta_in_checkpoint_dtypes(options, ckpt, delta);

  const std::string tmp = out + ".tmp";
  remove_path(tmp);
  make_directories(tmp, "export directory");
  HfExportReport report;
  report.provenance = delta.provenance;
  report.skipped = copy_other_files(ckpt, options.source_dir, tmp);

  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < ckpt.shard_names().size(); ++i) {
    const SafetensorsFile& shard = ckpt.shard(i);
    std::vector<NamedTensor> tensors;
    for (const auto& info : shard.tensors()) {
      const auto it = changed.find(info.name);
      tensors.push_back(
          {info.name, it != changed.end() ? it->second.tensor : shard.view(info.name)});
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
  for (const auto& item : changed) report.changed.push_back(item.second.report);
  report.num_shards = ckpt.shard_names().size();
  write_json_atomic(tmp + "/" + kExportReportFile, report_json(options, report));

  remove_path(out);  // the old export (export.overwrite)
  std::error_code ec;
  fs::rename(tmp, out, ec);
  UOE_CHECK(!ec, "cannot rename '", tmp, "' to '", out, "': ", ec.message());
  return report;
}

const ExportedTensor* worst_rounding(const HfExportReport& report, double ExportedTensor::*field) {
  const auto it =
      std::max_element(report.changed.begin(), report.changed.end(),
                       [&](const auto& a, const auto& b) { return a.*field < b.*field; });
  return it == report.changed.end() ? nullptr : &*it;
}

}  // namespace uoe
