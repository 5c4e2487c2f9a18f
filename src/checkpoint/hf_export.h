#pragma once
// Export of an unlearned model as a Hugging Face directory: the original directory with the
// tensors of an unlearning delta (checkpoint/checkpoint.h) written over their originals.
//
// The output has the same shards (names, tensor order, per-file metadata) and index as the source,
// every tensor in its original dtype; only the delta's tensors differ, converted back to their
// original dtype. Every other file of the source (config.json, tokenizer files, generation config,
// README, sub-directories) is copied, except weights in other formats (*.bin, *.pt, *.pth, *.ckpt,
// *.gguf, other *.safetensors), which would keep the original values (they are listed in the log).
// The trained values (float32 in the delta) are rounded to the checkpoint's dtype; how much that
// moved them is measured per tensor (ExportedTensor) and written with the rest of the report to
// <output_dir>/export_report.json: source, delta and its provenance, every HfExportReport field,
// and the tensors with the largest rel_max_error and update_rel_l2_error.
// Everything is written to "<output_dir>.tmp" and renamed to output_dir when complete.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace uoe {

constexpr const char* kExportReportFile = "export_report.json";

struct HfExportOptions {
  std::string source_dir;  // the original HF model directory
  std::string delta;       // the delta file of `uoe unlearn`
  std::string output_dir;
  bool overwrite = false;    // replace an existing output_dir
  std::string architecture;  // HF architecture (name mapping, checkpoint/hf_names.h)
};

// A tensor taken from the delta. With x its values in the delta, r = x rounded to the checkpoint's
// dtype (what the export writes) and o the checkpoint's original values, all exact in double:
struct ExportedTensor {
  std::string name;                   // HF name
  std::string parameter;              // uoe name (in the delta)
  std::string dtype;                  // written (the checkpoint's): "F32", "BF16" or "F16"
  double max_abs_error = 0;           // max |r - x|
  double rel_max_error = 0;           // max |r - x| / max |x| (0 when x is all zero)
  double rel_l2_error = 0;            // ||r - x||_2 / ||x||_2 (0 when x is all zero)
  double update_rel_l2_error = 0;     // ||r - x||_2 / ||x - o||_2 (0 when x == o)
  int64_t updated_elements = 0;       // elements with x != o
  int64_t updated_elements_lost = 0;  // of those, elements with r == o (the update rounded away)
};

struct HfExportReport {
  std::vector<ExportedTensor> changed;  // sorted by name
  nlohmann::json provenance;            // of the delta (method, target, config_hash)
  std::vector<std::string> skipped;     // files not copied (weights in other formats)
  size_t num_shards = 0;
  uint64_t total_size = 0;  // bytes of tensor data written
};

// The checks that need no reading of weights, with messages naming the config keys
// (model_name_or_path, delta, export.output_dir, export.overwrite): the source has safetensors
// weights, the delta file exists, and output_dir is set, neither the source nor inside it, and
// absent unless overwrite.
void check_hf_export_options(const HfExportOptions& options);

// InputError naming the key, file or tensor for what check_hf_export_options rejects, when the
// delta has a tensor the checkpoint lacks or with another shape, and when a value of the delta is
// not finite in the checkpoint's dtype (beyond F16's range).
HfExportReport export_hf_checkpoint(const HfExportOptions& options);

// The tensor with the largest `field` (a member pointer such as &ExportedTensor::rel_max_error),
// or nullptr when nothing changed.
const ExportedTensor* worst_rounding(const HfExportReport& report, double ExportedTensor::*field);

// `export:` where `uoe export` writes the HF directory (model_name_or_path with the delta applied).
struct ExportConfig {
  std::string output_dir;  // required by `uoe export`
  bool overwrite = false;  // replace an existing output_dir
};

}  // namespace uoe
