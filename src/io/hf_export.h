#pragma once
// Export of an unlearned model as a Hugging Face directory: the original directory with the
// tensors of an unlearning delta (io/checkpoint.h) written over their originals.
//
// The output has the same shards (names, tensor order, per-file metadata) and index as the source,
// every tensor in its original dtype; only the delta's tensors differ, converted back to their
// original dtype. Every other file of the source (config.json, tokenizer files, generation config,
// README, sub-directories) is copied, except weights in other formats (*.bin, *.pt, *.pth, *.ckpt,
// *.gguf, other *.safetensors), which would keep the original values (they are listed in the log).
// Everything is written to "<output_dir>.tmp" and renamed to output_dir when complete.
#include <string>
#include <vector>

namespace uoe {

struct HfExportOptions {
  std::string source_dir;    // the original HF model directory
  std::string delta;         // the delta file of `uoe unlearn`
  std::string output_dir;
  bool overwrite = false;    // replace an existing output_dir
  std::string architecture;  // HF architecture (name mapping, io/hf_names.h)
};

struct HfExportReport {
  std::vector<std::string> changed;  // HF names of the tensors taken from the delta
  std::vector<std::string> skipped;  // files not copied (weights in other formats)
  size_t num_shards = 0;
  uint64_t total_size = 0;           // bytes of tensor data written
};

// InputError naming the key, file or tensor when the output exists (and overwrite is false), is
// the source itself, or the delta has a tensor the checkpoint lacks or with another shape.
HfExportReport export_hf_checkpoint(const HfExportOptions& options);

}  // namespace uoe
