// SEUF step vs full-model unlearning step on the same model (issue: SEUF pipeline, benchmark).
//
//   mpiexec -np <W> seuf_step_bench --mode seuf|full --out result.json [--steps 12] [--layers 8]
//       [--hidden 256] [--experts 64] [--ffn 256] [--seq 64] [--batch 8] [--threads 0] [--ep W]
//       [--shared-memory 1]
// --ep: expert-parallel size (default: all W ranks); the other W / ep ranks are expert-DP.
// --shared-memory 0: tokens by all-to-all even when the ranks share a node
// (`parallel.shared_memory_dispatch: false`); default 1.
// The default model is fine-grained like DeepSeek-V2-Lite (64 experts, top-6), scaled down.
//
// Runs the real trainer (run_unlearning, GA) for --steps optimizer steps and reports the mean
// step time, the optimizer state per rank, the peak RSS per rank and `uoe plan`'s analytic FLOPs
// of one step on one rank (plan/planner.h: SEUF's backward computes input gradients through the
// frozen layers above the target and weight gradients only for the trainable set). The driver
// (benchmarks/run_seuf_step.sh) runs both modes as separate processes, so the peak RSS of one does
// not hide the other's, and prints the ratios. Correctness before timing: after the run every
// tensor outside the trainable set must be bitwise unchanged (SEUF) and the loss finite.
#include <random>

#include "bench_utils.h"
#include "common/check.h"
#include "common/cpu_runtime.h"
#include "common/log.h"
#include "common/memory_info.h"
#include "parallel/mpi_communicator.h"
#include "plan/planner.h"
#include "unlearn/selection.h"
#include "unlearn/unlearner.h"

namespace uoe {
namespace {

TokenDataset random_dataset(int64_t count, int64_t length, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenSequence> sequences(count);
  for (auto& s : sequences) {
    for (int64_t t = 0; t < length; ++t) {
      s.tokens.push_back(int32_t(4 + rng() % uint64_t(vocab - 4)));
      s.loss_mask.push_back(t > 0 ? 1 : 0);
    }
  }
  return TokenDataset(std::move(sequences), vocab, "random");
}

int run(bench::Flags& flags) {
  const std::string mode = flags.get_string("mode", "seuf");
  const std::string out_path = flags.get_string("out", "runs/bench/seuf_step.json");
  const int64_t steps = flags.get_int("steps", 12);
  const int threads = int(flags.get_int("threads", 0));
  ModelConfig model_config;
  model_config.vocab_size = 2048;
  model_config.hidden_size = flags.get_int("hidden", 256);
  model_config.num_hidden_layers = flags.get_int("layers", 8);
  model_config.num_attention_heads = 8;
  model_config.num_key_value_heads = 4;
  model_config.max_position_embeddings = 512;
  model_config.intermediate_size = 4 * model_config.hidden_size;
  model_config.first_k_dense_replace = 1;
  model_config.num_experts = flags.get_int("experts", 64);
  model_config.num_experts_per_tok = 6;
  model_config.moe_intermediate_size = flags.get_int("ffn", 256);
  model_config.norm_topk_prob = true;
  const int64_t seq = flags.get_int("seq", 64);
  const int64_t batch = flags.get_int("batch", 8);
  const int64_t ep = flags.get_int("ep", 0);
  const bool shared_memory =
      flags.get_int("shared-memory", 1) != 0;  // parallel.shared_memory_dispatch
  flags.check_all_used();
  UOE_CHECK(mode == "seuf" || mode == "full", "--mode must be seuf or full, got '", mode, "'");

  auto world = MpiCommunicator::world();
  configure_cpu_runtime(MpiRuntime::local_size(), threads);
  auto groups = ProcessGroups::create(world, ep > 0 ? int(ep) : world->size());
  CausalLM model(model_config, groups.ep());
  model->initialize(1);
  model->set_dispatch_options({/*overlap_shared_experts=*/false, shared_memory});
  auto forget = random_dataset(64, seq + 1, model_config.vocab_size, 2);

  UnlearnRunOptions run;
  run.training.output_dir = "/tmp";
  run.training.max_steps = steps;
  run.training.logging_steps = steps;
  run.training.per_device_train_batch_size = batch;
  run.training.learning_rate = 1e-4;
  run.training.lr_scheduler_type = LrSchedulerType::kConstant;
  run.unlearn.method = UnlearnMethod::kGa;
  // SEUF: one expert of the middle MoE layer (autograd stops below it) + that layer's router.
  const int64_t target_layer = model_config.num_hidden_layers / 2;
  run.unlearn.selection.mode = mode == "seuf" ? SelectionMode::kFixed : SelectionMode::kFull;
  run.unlearn.selection.layer = target_layer;
  run.unlearn.selection.experts = {0};
  Selection selection = select_targets(run.unlearn.selection, nullptr, model_config, 1);
  TrainableSet trainable = apply_selection(model, selection);

  std::map<std::string, torch::Tensor> before;
  for (const auto& item : model->named_parameters())
    before[item.key()] = item.value().detach().clone();
  auto summary =
      run_unlearning(run, groups, model, selection, trainable, {&forget, nullptr}, target_layer);
  int64_t changed_outside = 0;
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad() && !torch::equal(item.value(), before[item.key()]))
      ++changed_outside;
  }
  UOE_CHECK(changed_outside == 0, changed_outside, " frozen tensors changed");
  UOE_CHECK(std::isfinite(summary["final"]["loss"].get<double>()), "loss is not finite");

  PlanInput plan_input;
  plan_input.workload.precision = "fp32";
  plan_input.workload.seq_len = seq;
  plan_input.workload.sequences_per_rank = batch;
  plan_input.workload.seuf_target_layer = target_layer;
  const LayoutPlan plan =
      plan_layout(model_config, plan_input, {groups.ep_size(), groups.dp_size()},
                  mode == "seuf" ? PlanMethod::kSeuf : PlanMethod::kFull);

  // Per-rank maxima: the rank that holds the target expert is the one that matters.
  auto rss = torch::tensor({peak_rss_bytes()});
  groups.world().control->all_reduce(rss, ReduceOp::kMax);
  nlohmann::json result = {
      {"mode", mode},
      {"ranks", groups.world_size()},
      {"ep", groups.ep_size()},
      {"shared_memory_dispatch", shared_memory},
      {"breakdown", summary["breakdown"]},
      {"steps", steps},
      {"step_time_s", summary["step_time_s"]},
      {"optimizer_state_bytes_max_rank", summary["optimizer_state_bytes_max_rank"]},
      {"peak_rss_bytes_max_rank", rss.item<int64_t>()},
      {"trainable_elements_max_rank", summary["trainable_elements_max_rank"]},
      {"trainable_parameters", trainable.num_elements},
      {"analytic_flops_per_rank_step", plan.time.flops},
      {"model",
       {{"hidden", model_config.hidden_size},
        {"layers", model_config.num_hidden_layers},
        {"experts", model_config.num_experts},
        {"ffn", model_config.moe_intermediate_size},
        {"seq", seq},
        {"batch_per_rank", batch},
        {"target_layer", target_layer}}}};
  if (groups.rank() == 0) bench::write_json(out_path, result);
  log0(mode, ": step ", summary["step_time_s"].get<double>(), " s, optimizer state ",
       summary["optimizer_state_bytes_max_rank"].get<int64_t>(), " B (largest rank), peak RSS ",
       rss.item<int64_t>() / (1 << 20), " MiB (largest rank), ", plan.time.flops / 1e9,
       " GFLOP per rank and step (analytic)");
  return 0;
}

}  // namespace
}  // namespace uoe

int main(int argc, char** argv) {
  uoe::MpiRuntime mpi(&argc, &argv);
  return uoe::bench::run_main(
      [&] {
        uoe::bench::Flags flags(argc, argv);
        return uoe::run(flags);
      },
      [](int code) { uoe::MpiRuntime::abort(code); });
}
