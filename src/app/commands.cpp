#include "app/commands.h"

#include <iomanip>
#include <optional>

#include "app/run_context.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_config.h"
#include "common/check.h"
#include "common/device_memory.h"
#include "common/files.h"
#include "common/hashing.h"
#include "common/log.h"
#include "common/memory_info.h"
#include "data/fictitious_facts.h"
#include "data/text_corpus.h"
#include "eval/evaluation.h"
#include "eval/tofu_eval.h"
#include "model/causal_lm.h"
#include "model/parameter_count.h"
#include "plan/memory_plan.h"
#include "plan/plan_report.h"
#include "train/pretrainer.h"
#include "unlearn/attribution.h"
#include "unlearn/selection.h"
#include "unlearn/unlearner.h"

namespace uoe {
namespace {

// The model of the config on the run's device: loaded from model_name_or_path (plus delta), or
// initialised from seed. Its parameters are created on the device in the model's dtype without
// values, so the values go to the device one tensor at a time (from the files' memory maps,
// converted to the model's dtype on the way): the host never holds the weights, and a bf16 model
// never has an fp32 copy. Bad files are reported once, by agreement of the ranks.
CausalLM build_model(const RunContext& ctx) {
  return agreed(*ctx.groups.world().control, [&] {
    const RunConfig& c = ctx.config;
    UOE_CHECK(c.has_model, "this command needs a model: set model_name_or_path or model:");
    CausalLM model(c.model, ctx.groups.ep(), c.training.bf16 ? torch::kBFloat16 : torch::kFloat32,
                   ctx.device.torch_device());
    model->set_dispatch_options({c.parallel.overlap_dispatch, c.parallel.shared_memory_dispatch});
    if (c.model_name_or_path.empty()) {
      model->initialize(c.training.seed);
    } else {
      if (is_hf_model_dir(c.model_name_or_path)) {
        load_hf_checkpoint(SafetensorsCheckpoint(c.model_name_or_path), model,
                           c.model.architecture);
      } else {
        load_checkpoint(c.model_name_or_path, model);
      }
      if (!c.delta.empty()) {
        auto provenance = apply_delta(c.delta, model);
        log0("applied delta ", c.delta, " (", provenance.value("method", std::string("?")), ")");
      }
    }
    return model;
  });
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

// The longest sequence of `datasets` (null entries skipped).
int64_t longest_sequence(std::initializer_list<const TokenDataset*> datasets) {
  int64_t longest = 0;
  for (const TokenDataset* data : datasets) {
    for (int64_t i = 0; data && i < data->size(); ++i) longest = std::max(longest, data->length(i));
  }
  return longest;
}

// What a rank may use of the host's memory: what its node has available, shared by the node's
// ranks, the least over the ranks; the baseline is the largest resident set. Collective.
MemoryCapacity host_capacity(Communicator& world) {
  std::string source;
  const int ranks_on_node = MpiRuntime::local_size();
  auto capacity = torch::tensor({available_memory_bytes(&source) / ranks_on_node});
  world.all_reduce(capacity, ReduceOp::kMin);
  auto baseline = torch::tensor({current_rss_bytes()});
  world.all_reduce(baseline, ReduceOp::kMax);
  return {double(capacity.item<int64_t>()), double(baseline.item<int64_t>()),
          c10::str(source, " shared by the ", ranks_on_node, " rank(s) on the node")};
}

// What a rank may use of its GPU (plan/memory_plan.h's gpu_capacity over every rank's GPU).
// Collective.
MemoryCapacity device_capacity(Communicator& world, const std::string& device) {
  const GpuMemory gpu = gpu_memory(device);
  const auto mine =
      torch::tensor({int64_t(fnv1a(gpu.uuid) >> 1), int64_t(c10::Device(device).index()),
                     gpu.free_bytes, gpu.total_bytes});
  auto all = torch::empty({world.size(), 4}, torch::kInt64);  // [ranks, 4]
  world.all_gather(all, mine);
  std::vector<RankGpu> ranks;
  for (int r = 0; r < world.size(); ++r) {
    const int64_t* row = all[r].data_ptr<int64_t>();
    ranks.push_back({row[0], row[1], row[2], row[3]});
  }
  return gpu_capacity(ranks, device);
}

// The start-up memory plan (plan/memory_plan.h) against the least memory any rank may use, on its
// GPU or on the host: printed by rank 0, kept for summary.json, and a layout that cannot fit ends
// every rank with exit 2 before the model is built.
void plan_memory(RunContext& ctx, RunWorkload workload) {
  if (!ctx.config.has_model) return;  // build_model reports it
  workload.precision = ctx.config.training.bf16 ? "bf16" : "fp32";
  workload.gradient_checkpointing = ctx.config.training.gradient_checkpointing;
  Communicator& world = *ctx.groups.world().control;
  const MemoryCapacity capacity =
      ctx.device.device != "cpu" ? device_capacity(world, ctx.device.device) : host_capacity(world);
  const Layout layout{ctx.groups.ep_size(), ctx.groups.dp_size()};
  const MemoryPlan plan = agreed(world, [&] {
    MemoryPlan p = plan_run_memory(ctx.config.model, layout, workload, capacity);
    check_memory_plan(p);
    return p;
  });
  log0(plan.describe());
  ctx.memory_plan = plan.to_json();
}

EvalOptions eval_options(const RunConfig& c, const Selection* selection) {
  EvalOptions options{c.eval.batch_size, c.eval.max_new_tokens, std::nullopt, ""};
  if (selection && !selection->experts.empty()) options.target = selection->experts.front();
  if (c.eval.log_samples) options.samples_prefix = c.training.output_dir + "/samples_";
  return options;
}

// dataset.<key> read, its vocabulary not yet checked: the commands that plan memory from the
// data's sequence lengths read it before building the model, and check it after (check_vocab), so
// that a broken model file is reported before a vocabulary that does not match it.
std::unique_ptr<TokenDataset> read_dataset(const RunContext& ctx, const std::string& path,
                                           const char* key) {
  return agreed(*ctx.groups.world().control, [&] {
    UOE_CHECK(!path.empty(), "dataset.", key, " is required by this command");
    return std::make_unique<TokenDataset>(path);
  });
}

void check_vocab(const RunContext& ctx, const TokenDataset* data, const char* key) {
  if (data == nullptr) return;
  agreed(*ctx.groups.world().control, [&] {
    const int64_t vocab = ctx.config.model.vocab_size;
    UOE_CHECK(data->vocab_size() <= vocab, "dataset.", key, " '", data->path(), "' has vocab_size ",
              data->vocab_size(), " > model.vocab_size=", vocab);
    return 0;
  });
}

std::unique_ptr<TokenDataset> open_dataset(const RunContext& ctx, const std::string& path,
                                           const char* key) {
  auto data = read_dataset(ctx, path, key);
  check_vocab(ctx, data.get(), key);
  return data;
}

EvalSuite load_eval_suite(const RunContext& ctx) {
  return agreed(*ctx.groups.world().control,
                [&] { return EvalSuite::load(ctx.config.dataset, ctx.config.model.vocab_size); });
}

int pretrain(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  std::unique_ptr<TokenDataset> train;
  if (!ctx.config.dataset.train.empty())
    train = read_dataset(ctx, ctx.config.dataset.train, "train");
  RunWorkload workload;
  workload.seq_len = train ? longest_sequence({train.get()}) : ctx.config.data.seq_len;
  workload.sequences_per_rank = ctx.config.training.per_device_train_batch_size;
  plan_memory(ctx, workload);
  CausalLM model = build_model(ctx);
  check_vocab(ctx, train.get(), "train");
  train.reset();  // the trainer reads dataset.train itself
  const bool evaluate = !ctx.config.dataset.forget.empty() || !ctx.config.dataset.retain.empty();
  std::optional<EvalSuite> suite;
  if (evaluate) suite = load_eval_suite(ctx);
  ctx.open_outputs();
  auto counts = parameter_counts(ctx, model);
  log0("model: ", counts["total"].get<int64_t>(), " parameters (", counts["dense"].get<int64_t>(),
       " dense, ", counts["experts_per_rank"].get<int64_t>(), " in this rank's experts)");
  const RunConfig& c = ctx.config;
  nlohmann::json summary =
      run_pretraining({c.training, c.profile, c.data, c.dataset.train}, ctx.groups, model);
  summary["parameters"] = counts;
  if (suite) {
    summary["eval"] =
        evaluate_suite(model, *suite, ctx.groups, eval_options(ctx.config, nullptr), false);
    log0("eval: ", summary["eval"].dump());
  }
  ctx.write_summary(summary);
  log0("pretrain done: loss ", summary["initial_loss"].get<double>(), " -> ",
       summary["final_loss"].get<double>(), " in ",
       format_duration(summary["wall_s"].get<double>()), "; wrote ",
       ctx.config.training.output_dir);
  return 0;
}

int make_data(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  ctx.open_outputs();
  nlohmann::json summary = {{"command", "make-data"}};
  if (ctx.groups.rank() == 0) {
    auto s = write_fictitious_facts(ctx.config.training.output_dir, ctx.config.facts);
    summary.update({{"vocab_size", s.vocab_size},
                    {"train_sequences", s.train_sequences},
                    {"forget_sequences", s.forget_sequences},
                    {"retain_sequences", s.retain_sequences},
                    {"validation_sequences", s.validation_sequences}});
    log0("wrote fictitious-facts data to ", ctx.config.training.output_dir, ": vocab ",
         s.vocab_size, ", ", s.train_sequences, " training, ", s.forget_sequences, " forget, ",
         s.retain_sequences, " retain, ", s.validation_sequences, " validation sequences");
  }
  ctx.groups.world().control->barrier();
  ctx.write_summary(summary);
  return 0;
}

int tokenize(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  const TokenizeOptions& options = ctx.config.tokenize;
  nlohmann::json summary = {{"command", "tokenize"}};
  std::string output = options.output;
  if (output.front() != '/') output = ctx.config.training.output_dir + "/" + output;
  // Rank 0 does the work; bad input is reported once and leaves no output directory behind.
  const TokenizeSummary s = agreed(*ctx.groups.world().control, [&] {
    return ctx.groups.rank() == 0 ? tokenize_corpus(options, output) : TokenizeSummary{};
  });
  ctx.open_outputs();
  if (ctx.groups.rank() == 0) {
    const double tokens_per_s = s.seconds > 0 ? double(s.num_tokens) / s.seconds : 0.0;
    summary.update({{"output", s.output_path},
                    {"tokenizer", options.tokenizer},
                    {"records", s.num_records},
                    {"sequences", s.num_sequences},
                    {"tokens", s.num_tokens},
                    {"truncated", s.num_truncated},
                    {"answers_per_record", s.answers_per_record},
                    {"vocab_size", s.vocab_size},
                    {"tokens_per_s", tokens_per_s}});
    log0("tokenized ", s.num_records, " records of ", options.input, " into ", s.num_sequences,
         " sequences, ", s.num_tokens, " tokens (", int64_t(tokens_per_s), " tokens/s",
         s.num_truncated ? c10::str(", ", s.num_truncated, " truncated") : std::string(),
         "); wrote ", s.output_path);
  }
  ctx.write_summary(summary);
  return 0;
}

// Attribution on the forget set (and on the retain set when given: the contrast), the split-half
// stability check, the selection; all written to <output_dir>/attribution.h5 and printed.
struct Attributed {
  AttributionResult forget;
  std::optional<AttributionResult> retain;
  Selection selection;
  nlohmann::json specificity;  // split-half agreement (null with < 2 sequences), retain size
};

Attributed attribute_and_select(const RunContext& ctx, CausalLM& model, const TokenDataset& forget,
                                const TokenDataset* retain) {
  const RunConfig& c = ctx.config;
  Attributed a;
  a.forget = compute_attribution(model, forget, ctx.groups, c.eval.batch_size);
  if (retain) {
    a.retain = compute_attribution(model, *retain, ctx.groups, c.eval.batch_size);
    a.forget.contrast = attribution_contrast(a.forget.scores, a.retain->scores);
  }
  a.selection = select_targets(c.unlearn.selection, &a.forget, c.model, c.training.seed);
  const ExpertTarget first =
      a.selection.experts.empty() ? ExpertTarget{} : a.selection.experts.front();
  if (ctx.groups.rank() == 0) {
    write_attribution(c.training.output_dir + "/attribution.h5", a.forget,
                      a.retain ? &*a.retain : nullptr, first.layer, first.expert);
  }
  const auto agreement = split_half_agreement(a.forget);
  a.specificity = {{"split_half", agreement ? agreement->to_json() : nlohmann::json()}};
  log0("expert attribution over ", a.forget.num_sequences, " forget sequences (",
       a.forget.num_tokens, " tokens); top experts per MoE layer [score (selections)]:\n",
       describe_attribution(a.forget, 4), agreement ? agreement->describe() : std::string());
  if (a.retain) {
    a.specificity["retain_sequences"] = a.retain->num_sequences;
    log0("retain-set attribution over ", a.retain->num_sequences, " sequences:\n",
         describe_attribution(*a.retain, 4),
         "forget vs retain (contrast = forget share - retain share):\n",
         describe_contrast(a.forget, *a.retain));
  }
  log0("selection: ", a.selection.to_json().dump());
  return a;
}

// The retain set when dataset.retain is set (attribution scores it), or when `required`.
std::unique_ptr<TokenDataset> read_retain(const RunContext& ctx, bool required) {
  if (ctx.config.dataset.retain.empty() && !required) return nullptr;
  return read_dataset(ctx, ctx.config.dataset.retain, "retain");
}

int attribute(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  CausalLM model = build_model(ctx);
  auto forget = open_dataset(ctx, ctx.config.dataset.forget, "forget");
  auto retain = read_retain(ctx, false);
  check_vocab(ctx, retain.get(), "retain");
  ctx.open_outputs();
  const Attributed a = attribute_and_select(ctx, model, *forget, retain.get());
  nlohmann::json summary = {{"command", "attribute"},
                            {"selection", a.selection.to_json()},
                            {"num_tokens", a.forget.num_tokens},
                            {"num_sequences", a.forget.num_sequences},
                            {"specificity", a.specificity}};
  if (a.retain && ctx.groups.rank() == 0) {  // the retain table alone (benchmarks/tofu reads it)
    write_attribution(ctx.config.training.output_dir + "/attribution_retain.h5", *a.retain, nullptr,
                      -1, -1);
  }
  ctx.write_summary(summary);
  return 0;
}

// TOFU metrics of `tofu:` (evaluated after `eval:`'s sets), logged without the per-question ratios.
nlohmann::json tofu_metrics(const RunContext& ctx, CausalLM& model) {
  log0("TOFU evaluation ...");
  nlohmann::json result =
      evaluate_tofu(model, ctx.config.tofu, ctx.groups, ctx.config.eval.batch_size);
  nlohmann::json shown = result;
  for (const char* set : {"forget", "retain"}) shown[set].erase("truth_ratios");
  log0("tofu: ", shown.dump());
  return result;
}

// What `unlearn` trains per rank and step, for the memory plan: the longest forget or retain
// sequence, the retain batch beside the forget batch, the selection's layer and expert count
// (before attribution: the first MoE layer, the worst case).
RunWorkload unlearn_workload(const RunConfig& c, const TokenDataset& forget,
                             const TokenDataset* retain) {
  const SelectionConfig& s = c.unlearn.selection;
  RunWorkload w;
  w.method = s.mode == SelectionMode::kFull ? PlanMethod::kFull : PlanMethod::kSeuf;
  w.seq_len = longest_sequence({&forget, retain});
  w.sequences_per_rank =
      c.training.per_device_train_batch_size * (method_uses_retain(c.unlearn) ? 2 : 1);
  if (s.layer >= 0 && s.layer < c.model.num_hidden_layers && c.model.is_moe_layer(s.layer))
    w.seuf_target_layer = s.layer;
  w.seuf_experts = s.mode == SelectionMode::kFixed   ? int64_t(s.experts.size())
                   : s.mode == SelectionMode::kLayer ? c.model.num_experts / c.parallel.ep_size
                                                     : s.top_m;
  return w;
}

int unlearn(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  const RunConfig& c = ctx.config;
  auto forget = read_dataset(ctx, c.dataset.forget, "forget");
  auto retain = read_retain(ctx, method_uses_retain(c.unlearn));
  plan_memory(ctx, unlearn_workload(c, *forget, retain.get()));
  CausalLM model = build_model(ctx);
  check_vocab(ctx, forget.get(), "forget");
  check_vocab(ctx, retain.get(), "retain");
  EvalSuite suite = load_eval_suite(ctx);
  ctx.open_outputs();
  auto [attribution, retain_attribution, selection, specificity] =
      attribute_and_select(ctx, model, *forget, retain.get());

  EvalOptions options = eval_options(c, &selection);
  if (!options.target) {  // full-model unlearning: report the best-attributed expert's routing
    options.target =
        select_targets(SelectionConfig{}, &attribution, c.model, c.training.seed).experts.front();
  }
  log0("evaluating before unlearning ...");
  const std::string samples_prefix = options.samples_prefix;
  if (c.eval.log_samples) options.samples_prefix = samples_prefix + "before_";
  nlohmann::json before = evaluate_suite(model, suite, ctx.groups, options, /*record=*/true);
  log0("before: ", before.dump());

  TrainableSet trainable = apply_selection(model, selection);
  // RMU hooks the target layer (for full-model unlearning: the best-attributed layer).
  int64_t hook_layer = c.unlearn.rmu_layer;
  if (hook_layer < 0) {
    hook_layer =
        selection.experts.empty() ? attribution.best_layer() : selection.experts.front().layer;
  }
  const int64_t total_parameters = parameter_counts(ctx, model)["total"].get<int64_t>();
  log0("trainable: ", trainable.num_elements, " of ", total_parameters, " parameters (",
       trainable.names.size(), " tensors)");
  nlohmann::json training =
      run_unlearning({c.training, c.unlearn, c.profile, c.config_hash}, ctx.groups, model,
                     selection, trainable, {forget.get(), retain.get()}, hook_layer);
  if (c.eval.log_samples) options.samples_prefix = samples_prefix + "after_";
  nlohmann::json after = evaluate_suite(model, suite, ctx.groups, options, /*record=*/false);
  log0("after: ", after.dump());
  nlohmann::json tofu_after;
  if (c.tofu.enabled()) tofu_after = tofu_metrics(ctx, model);

  nlohmann::json provenance = {{"method", to_string(c.unlearn.method)},
                               {"target", selection.to_json()},
                               {"config", c.config_path},
                               {"config_hash", c.config_hash},
                               {"anchor_weight", c.unlearn.anchor_weight}};
  save_delta(c.training.output_dir + "/delta.h5", model, ctx.groups, trainable.names, provenance);
  if (c.training.save_full_model)
    save_checkpoint(c.training.output_dir + "/checkpoint", model, ctx.groups);
  ctx.write_summary({{"command", "unlearn"},
                     {"method", to_string(c.unlearn.method)},
                     {"selection", selection.to_json()},
                     {"specificity", specificity},
                     {"trainable_parameters", trainable.num_elements},
                     {"total_parameters", total_parameters},
                     {"training", training},
                     {"before", before},
                     {"after", after},
                     {"tofu", tofu_after}});
  log0("unlearn done; wrote ", c.training.output_dir, "/{summary.json,metrics.jsonl,delta.h5",
       c.training.save_full_model ? ",checkpoint}" : "}");
  return 0;
}

int eval(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli);
  CausalLM model = build_model(ctx);
  EvalSuite suite = load_eval_suite(ctx);
  std::unique_ptr<Selection> target;
  if (ctx.config.unlearn.selection.mode == SelectionMode::kFixed) {
    target = std::make_unique<Selection>(select_targets(
        ctx.config.unlearn.selection, nullptr, ctx.config.model, ctx.config.training.seed));
  }
  ctx.open_outputs();
  auto result =
      evaluate_suite(model, suite, ctx.groups, eval_options(ctx.config, target.get()), false);
  log0("eval: ", result.dump(2));
  nlohmann::json summary = {{"command", "eval"}, {"eval", result}};
  if (ctx.config.tofu.enabled()) summary["tofu"] = tofu_metrics(ctx, model);
  ctx.write_summary(summary);
  return 0;
}

// One line describing the architecture of `m`.
std::string describe_architecture(const ModelConfig& m) {
  const auto moe = m.moe_layer_indices();
  std::string attention =
      m.is_mla()
          ? c10::str("MLA (q_lora_rank ", m.q_lora_rank, ", kv_lora_rank ", m.kv_lora_rank, ", qk ",
                     m.qk_nope_head_dim, "+", m.qk_rope_head_dim, ", v ", m.v_head_dim, ")")
          : c10::str(m.num_key_value_heads < m.num_attention_heads ? "GQA" : "MHA", " (",
                     m.num_attention_heads, " heads, ", m.num_key_value_heads, " kv, head_dim ",
                     m.resolved_head_dim(), ")");
  if (m.qk_norm != "none") attention += c10::str(", q/k norm ", m.qk_norm);
  return c10::str(
      m.architecture.empty() ? "uoe model" : m.architecture, ": ", m.num_hidden_layers, " layers (",
      moe.size(), " MoE", moe.empty() ? "" : c10::str(", first ", moe.front()), "), ",
      m.num_experts, " experts top-", m.num_experts_per_tok,
      m.shared_expert_intermediate_size > 0
          ? c10::str(" + shared ", m.shared_expert_intermediate_size,
                     m.shared_expert_gate ? " (gated)" : "")
          : "",
      ", router ", m.router_type,
      m.n_group > 1 ? c10::str(" (", m.n_group, " groups, top ", m.topk_group, ")") : "",
      ", attention ", attention, ", rope ", m.rope_scaling.type,
      m.rope_scaling.is_yarn() ? c10::str(" x", m.rope_scaling.factor) : "", ", hidden ",
      m.hidden_size, ", vocab ", m.vocab_size);
}

// `uoe info <config.json | HF model dir>`: architecture and parameter counts, nothing allocated.
int hf_info(const CommandLine& cli) {
  UOE_CHECK(cli.overrides.empty(), "uoe info on an HF config takes no overrides");
  const ModelConfig m = read_hf_config(cli.config_path);
  const ParameterCounts counts = count_parameters(m);
  log0("architecture: ", describe_architecture(m));
  log0("parameters: ", c10::str(std::fixed, std::setprecision(2), counts.total() / 1e9),
       "B total, ", c10::str(std::fixed, std::setprecision(2), counts.active / 1e9),
       "B active per token",
       counts.mtp > 0 ? c10::str(" (+", std::fixed, std::setprecision(2), counts.mtp / 1e9,
                                 "B multi-token-prediction layers, not loaded)")
                      : "");
  log0("parameter counts: ", counts.to_json().dump());
  return 0;
}

bool is_hf_config_path(const std::string& path) {
  const std::string suffix = ".json";
  return is_hf_model_dir(path) ||
         (path.size() > suffix.size() &&
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0);
}

int info(const CommandLine& cli) {
  if (is_hf_config_path(cli.config_path)) return hf_info(cli);
  RunContext ctx = make_run_context(cli, OutputPolicy::kNone);
  CausalLM model = build_model(ctx);
  auto counts = parameter_counts(ctx, model);
  log0("architecture: ", describe_architecture(ctx.config.model));
  log0("parameters: ", counts.dump());
  return 0;
}

// One line per changed tensor: the dtype written and what rounding to it did.
std::string describe_rounding(const ExportedTensor& t) {
  return c10::str(t.name, " ", t.dtype, ": rounding rel_max_error ", t.rel_max_error,
                  ", rel_l2_error ", t.rel_l2_error, ", update_rel_l2_error ",
                  t.update_rel_l2_error, " (", t.updated_elements_lost, " of ", t.updated_elements,
                  " updated elements back at their original value)");
}

// `uoe export`: model_name_or_path (HF directory) with the delta's tensors, as an HF directory.
// Needs no expert parallelism (make_run_context sets parallel.ep_size=1): rank 0 reads and writes,
// the other ranks wait for it and share its outcome (a bad input ends every rank with exit 2).
int export_model(const CommandLine& cli) {
  RunContext ctx = make_run_context(cli, OutputPolicy::kNone);
  const RunConfig& c = ctx.config;
  const bool root = ctx.groups.rank() == 0;
  const HfExportReport report = agreed(*ctx.groups.world().control, [&] {
    return root ? export_hf_checkpoint(hf_export_options(c)) : HfExportReport{};
  });
  if (!root) return 0;
  std::string changed;
  for (const auto& t : report.changed) changed += "\n  " + describe_rounding(t);
  for (const auto& skipped : report.skipped) log0("not copied: ", skipped);
  log0("exported ", c.model_name_or_path, " + ", c.delta, " to ", c.export_config.output_dir, ": ",
       report.num_shards, " shard(s), ", report.total_size, " bytes of tensors, ",
       report.changed.size(),
       " changed, each in the checkpoint's dtype (the delta's values rounded to it where it is ",
       "narrower):", changed);
  if (const ExportedTensor* worst = worst_rounding(report, &ExportedTensor::rel_max_error)) {
    const ExportedTensor* update = worst_rounding(report, &ExportedTensor::update_rel_l2_error);
    log0("largest rounding: rel_max_error ", worst->rel_max_error, " (", worst->name,
         "), update_rel_l2_error ", update->update_rel_l2_error, " (", update->name,
         "); report in ", c.export_config.output_dir, "/", kExportReportFile);
  }
  return 0;
}

// `uoe plan <config.json | HF dir> [cluster.yaml] [key=value ...]`: predicted memory and step
// time per layout; rank 0 prints, nothing is allocated.
int plan(const CommandLine& cli) {
  // Under mpirun every rank reads the same files: bad input is reported once.
  const auto world = MpiCommunicator::world();
  const auto [model, input] = agreed(*world, [&] {
    return std::make_pair(read_hf_config(cli.config_path),
                          load_plan_input(cli.second_path, cli.overrides));
  });
  const auto seuf = plan_all(model, input, PlanMethod::kSeuf);
  const auto full = plan_all(model, input, PlanMethod::kFull);
  log0(plan_report_markdown(cli.config_path, model, input, seuf, full));
  if (!input.output.empty() && log_rank() == 0) {
    write_json_atomic(input.output, plan_report_json(cli.config_path, input, seuf, full));
  }
  return 0;
}

}  // namespace

int run_command(const CommandLine& cli) {
  if (cli.command == "pretrain") return pretrain(cli);
  if (cli.command == "make-data") return make_data(cli);
  if (cli.command == "tokenize") return tokenize(cli);
  if (cli.command == "attribute") return attribute(cli);
  if (cli.command == "unlearn") return unlearn(cli);
  if (cli.command == "eval") return eval(cli);
  if (cli.command == "info") return info(cli);
  if (cli.command == "export") return export_model(cli);
  if (cli.command == "plan") return plan(cli);
  return 2;
}

}  // namespace uoe
