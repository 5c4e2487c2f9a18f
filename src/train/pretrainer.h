#pragma once
// `uoe pretrain`: trains the model from scratch on the built-in synthetic corpus with AdamW.
// Every rank reads its own slice of each global batch: at optimizer step s and micro-step m the
// global micro-batch is sequences [((s*GA + m) * W) * B, +W*B) and rank r takes the r-th block of
// B (see train/batching.h for token datasets). The global batch is therefore the same for any
// world size W with the same W*B. A checkpoint is saved to <output_dir>/checkpoint at the end
// when save_full_model is true.
#include <nlohmann/json.hpp>

#include "config/run_config.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

// Runs max_steps optimizer steps; rank 0 writes metrics.jsonl. Returns the summary record.
nlohmann::json run_pretraining(const RunConfig& config, const ProcessGroups& groups,
                               CausalLM& model);

}  // namespace uoe
