#include "unlearn/unlearner.h"

#include "common/check.h"
#include "train/training_loop.h"

namespace uoe {

nlohmann::json run_unlearning(const UnlearnRunOptions& options, const ProcessGroups& groups,
                              CausalLM& model, const Selection& selection,
                              const TrainableSet& trainable, const UnlearnData& data,
                              int64_t hook_layer) {
  const TrainingConfig& t = options.training;
  UOE_CHECK(data.forget, "unlearning needs dataset.forget");
  UOE_CHECK(t.moe_router_bias_update_rate == 0,
            "moe_router_bias_update_rate applies to uoe pretrain only (unlearning leaves every "
            "router bias unchanged), got ",
            t.moe_router_bias_update_rate);
  // The objective takes its reference data (NPO log-probs, RMU frozen tensors) from the original
  // model before the loop resumes trained tensors from a checkpoint.
  UnlearningObjective objective(options, groups, model, selection, trainable, data, hook_layer);
  return run_training_loop(t, options.profile.breakdown, groups, model,
                           {trainable.dense, trainable.expert}, objective);
}

}  // namespace uoe
