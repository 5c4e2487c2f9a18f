#include "app/commands.h"

#include "app/run_context.h"
#include "common/log.h"
#include "model/causal_lm.h"
#include "train/pretrainer.h"

namespace uoe {
namespace {

CausalLM build_model(const RunContext& ctx) {
  CausalLM model(ctx.config.model, ctx.groups.ep());
  model->initialize(ctx.config.training.seed);
  return model;
}

int64_t count_elements(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

nlohmann::json parameter_counts(const RunContext& ctx, const CausalLM& model) {
  const int64_t dense = count_elements(model->dense_parameters());
  const int64_t local_experts = count_elements(model->expert_parameters());
  return {{"dense", dense},
          {"experts_per_rank", local_experts},
          {"total", dense + local_experts * ctx.groups.ep_size()}};
}

int pretrain(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  CausalLM model = build_model(ctx);
  auto counts = parameter_counts(ctx, model);
  log0("model: ", counts["total"].get<int64_t>(), " parameters (", counts["dense"].get<int64_t>(),
       " dense, ", counts["experts_per_rank"].get<int64_t>(), " in this rank's experts)");
  nlohmann::json summary = run_pretraining(ctx.config, ctx.groups, model);
  summary["parameters"] = counts;
  ctx.write_summary(summary);
  log0("pretrain done: loss ", summary["initial_loss"].get<double>(), " -> ",
       summary["final_loss"].get<double>(), " in ", format_duration(summary["wall_s"].get<double>()),
       "; wrote ", ctx.config.training.output_dir, "/{metrics.jsonl,summary.json}");
  return 0;
}

int info(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  CausalLM model = build_model(ctx);
  auto counts = parameter_counts(ctx, model);
  const auto& m = ctx.config.model;
  log0("architecture: ", m.num_hidden_layers, " layers (", m.num_moe_layers(), " MoE), ",
       m.num_experts, " experts top-", m.num_experts_per_tok, ", router ", m.router_type,
       ", hidden ", m.hidden_size, ", vocab ", m.vocab_size);
  log0("parameters: ", counts.dump());
  return 0;
}

}  // namespace

int run_command(const CommandLine& cli) {
  if (cli.command == "pretrain") return pretrain(cli);
  if (cli.command == "info") return info(cli);
  return 2;
}

}  // namespace uoe
