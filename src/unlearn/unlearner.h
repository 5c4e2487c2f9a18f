#pragma once
// `uoe unlearn` training: l_f + retain_weight * l_r + anchor_weight * L_anchor on the trainable set
// only (DESIGN.md sections 1-3), the unlearning objective (unlearn/unlearning_objective.h) run by
// the training loop (train/training_loop.h).
//
// Per optimizer step every rank reads its block of the global forget batch (and retain batch when
// the method uses one), the ranks agree on the global counts (scored tokens, valid tokens,
// sequences) with one all-reduce, each loss part is divided by its global count, and gradients are
// synchronised (routers over the world, experts over expert-DP) before AdamW.
#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "parallel/process_groups.h"
#include "unlearn/selection.h"
#include "unlearn/unlearning_objective.h"

namespace uoe {

// Trains `trainable` (from apply_selection) in place. `hook_layer` is the RMU layer. Rank 0 writes
// <output_dir>/metrics.jsonl. Returns the training loop's summary (steps, final losses, step time,
// trainable elements and optimizer state bytes of this rank and the maximum over ranks, ...).
nlohmann::json run_unlearning(const UnlearnRunOptions& options, const ProcessGroups& groups,
                              CausalLM& model, const Selection& selection,
                              const TrainableSet& trainable, const UnlearnData& data,
                              int64_t hook_layer);

}  // namespace uoe
