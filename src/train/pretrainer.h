#pragma once
// `uoe pretrain`: trains the model from scratch on the built-in synthetic corpus (or a token
// dataset) with AdamW through the training loop (train/training_loop.h), the objective being the
// LM loss (token NLL over the step's scored tokens, plus the balancing losses).
// Every rank reads its own slice of each global batch: at optimizer step s and micro-step m the
// global micro-batch is sequences [((s*GA + m) * W) * B, +W*B) and rank r takes the r-th block of
// B (see train/batching.h for token datasets). The global batch is therefore the same for any
// world size W with the same W*B. A checkpoint is saved to <output_dir>/checkpoint at the end
// when save_full_model is true.
#include <nlohmann/json.hpp>

#include "data/synthetic_corpus.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"
#include "train/training_options.h"

namespace uoe {

// What pretraining reads of the run config.
struct PretrainOptions {
  TrainingConfig training;
  ProfileConfig profile;
  SyntheticCorpusOptions data;  // the corpus when dataset_train is empty
  std::string dataset_train;    // dataset.train: a token dataset (data/token_dataset.h)
};

// Runs the optimizer steps; rank 0 writes metrics.jsonl. Returns the summary record.
nlohmann::json run_pretraining(const PretrainOptions& options, const ProcessGroups& groups,
                               CausalLM& model);

}  // namespace uoe
