#pragma once
// Model checkpoints in HDF5, layout-independent (any ep_size can load any checkpoint).
//
//   <dir>/model_config.json       the ModelConfig (HF field names)
//   <dir>/dense.h5                every non-expert tensor, by parameter name (rank 0 writes)
//   <dir>/experts-<r>.h5          the routed experts of EP rank r, by parameter name; names carry
//                                 global expert ids (layers.3.mlp.experts.17.up_proj.weight)
//   <dir>/COMPLETE                written last, by rank 0, after all ranks finished
// The directory is written under "<dir>.tmp" and renamed when complete; a directory without
// COMPLETE is never loaded.
//
// An unlearning delta holds only the trained tensors, with what produced them:
//   <file>.h5: tensors by parameter name; attributes method, target (JSON), config_hash.
#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

// Collective over the world. Only dp_rank 0 ranks write expert files.
void save_checkpoint(const std::string& dir, CausalLM& model, const ProcessGroups& groups);

// The ModelConfig as model_config.json holds it (every field; equal JSON = equal configs).
nlohmann::json model_config_json(const ModelConfig& config);

// Reads <dir>/model_config.json. Throws InputError if the directory is not a complete checkpoint.
ModelConfig read_checkpoint_config(const std::string& dir);

// Loads every tensor this rank holds (dense + own experts) from a checkpoint. Throws InputError
// naming the file and tensor on a missing tensor or a shape mismatch.
void load_checkpoint(const std::string& dir, CausalLM& model);

// Writes the tensors in `names` (which every rank passes identically) to a delta file; tensors of
// experts are fetched from their owners. Collective over the world; rank 0 writes.
void save_delta(const std::string& path, CausalLM& model, const ProcessGroups& groups,
                const std::vector<std::string>& names, const nlohmann::json& provenance);

// Overwrites the tensors present in the delta that this rank holds. Returns the provenance.
nlohmann::json apply_delta(const std::string& path, CausalLM& model);

// Every tensor of a delta file by parameter name (in its stored dtype) and the provenance.
struct Delta {
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json provenance;
};
Delta read_delta(const std::string& path);

}  // namespace uoe
