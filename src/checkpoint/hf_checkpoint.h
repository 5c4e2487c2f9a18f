#pragma once
// Loading a uoe CausalLM from Hugging Face safetensors weights, expert-parallel aware: every rank
// copies only the tensors it holds (dense tensors and its own E/ep experts) from the memory-mapped
// files, converting to the model's dtype, and releases the file pages after each copy, so its
// resident size stays close to what it holds; the other experts' pages are never read.
//
// Before any copy the whole checkpoint is checked, identically on every rank (headers only): every
// parameter and buffer of the full model (all E experts of every MoE layer) has its tensor with the
// expected shape, and the checkpoint holds nothing else except the tensors of
// hf_tensor_is_unused (checkpoint/hf_names.h). Errors name the file, the tensor and both shapes.
#include <string>

#include "formats/safetensors_checkpoint.h"
#include "model/causal_lm.h"

namespace uoe {

struct HfLoadReport {
  int64_t num_tensors = 0;       // tensors copied into this rank's model
  int64_t dense_bytes = 0;       // resident bytes of the dense tensors (model dtype)
  int64_t expert_bytes = 0;      // resident bytes of this rank's experts (model dtype)
  int64_t checkpoint_bytes = 0;  // bytes of the tensors read from the files (stored dtypes)
};

// `architecture` selects the name mapping (hf_parameter_name). Logs the report on every rank.
// Not collective.
HfLoadReport load_hf_checkpoint(const SafetensorsCheckpoint& checkpoint, CausalLM& model,
                                const std::string& architecture);

}  // namespace uoe
