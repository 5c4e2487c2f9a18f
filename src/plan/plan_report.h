#pragma once
// Text of `uoe plan`: a Markdown summary (best layout per GPU count and the recommendation for
// SEUF and full-model unlearning) and, on request, every layout.
#include <string>
#include <vector>

#include "plan/planner.h"

namespace uoe {

// `name` labels the model (its config path).
std::string plan_report_markdown(const std::string& name, const ModelConfig& model,
                                 const PlanInput& input, const std::vector<LayoutPlan>& seuf,
                                 const std::vector<LayoutPlan>& full);

// Every layout of both methods, with the inputs.
nlohmann::json plan_report_json(const std::string& name, const PlanInput& input,
                                const std::vector<LayoutPlan>& seuf,
                                const std::vector<LayoutPlan>& full);

}  // namespace uoe
