#include "config/run_config.h"

#include <cmath>

#include "common/config_node.h"
#include "common/hashing.h"

#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_config.h"
#include "model/model_config_yaml.h"

namespace uoe {
namespace {

ParallelConfig parse_parallel(ConfigNode node) {
  ParallelConfig p;
  p.ep_size = node.get<int>("ep_size", 1);
  p.backend = node.get<std::string>("backend", "mpi");
  p.threads_per_rank = node.get<int>("threads_per_rank", 0);
  p.overlap_dispatch = node.get<bool>("overlap_dispatch", p.overlap_dispatch);
  p.shared_memory_dispatch = node.get<bool>("shared_memory_dispatch", p.shared_memory_dispatch);
  node.finish();
  UOE_CHECK(p.ep_size >= 1, "parallel.ep_size must be >= 1, got ", p.ep_size);
  UOE_CHECK(p.backend == "mpi" || p.backend == "nccl",
            "parallel.backend must be 'mpi' or 'nccl', got '", p.backend, "'");
  UOE_CHECK(p.threads_per_rank >= 0, "parallel.threads_per_rank must be >= 0");
  return p;
}

ProfileConfig parse_profile(ConfigNode node) {
  ProfileConfig p;
  p.breakdown = node.get<bool>("breakdown", p.breakdown);
  node.finish();
  return p;
}

TrainingConfig parse_training(ConfigNode& root) {
  TrainingConfig t;
  t.output_dir = root.require<std::string>("output_dir");
  t.seed = root.get<uint64_t>("seed", t.seed);
  t.max_steps = root.get<int64_t>("max_steps", t.max_steps);
  t.logging_steps = root.get<int64_t>("logging_steps", t.logging_steps);
  t.per_device_train_batch_size =
      root.get<int64_t>("per_device_train_batch_size", t.per_device_train_batch_size);
  t.gradient_accumulation_steps =
      root.get<int64_t>("gradient_accumulation_steps", t.gradient_accumulation_steps);
  t.learning_rate = root.get<double>("learning_rate", t.learning_rate);
  t.weight_decay = root.get<double>("weight_decay", t.weight_decay);
  t.adam_beta1 = root.get<double>("adam_beta1", t.adam_beta1);
  t.adam_beta2 = root.get<double>("adam_beta2", t.adam_beta2);
  t.adam_epsilon = root.get<double>("adam_epsilon", t.adam_epsilon);
  t.max_grad_norm = root.get<double>("max_grad_norm", t.max_grad_norm);
  t.lr_scheduler_type = root.get_enum("lr_scheduler_type", t.lr_scheduler_type, kLrSchedulerTypes);
  t.warmup_ratio = root.get<double>("warmup_ratio", t.warmup_ratio);
  t.warmup_steps = root.get<int64_t>("warmup_steps", t.warmup_steps);

  UOE_CHECK(!t.output_dir.empty(), "output_dir must not be empty");
  t.num_train_epochs = root.get<double>("num_train_epochs", t.num_train_epochs);
  t.save_full_model = root.get<bool>("save_full_model", t.save_full_model);
  t.save_steps = root.get<int64_t>("save_steps", t.save_steps);
  t.save_total_limit = root.get<int64_t>("save_total_limit", t.save_total_limit);
  t.resume_from_checkpoint =
      root.get<std::string>("resume_from_checkpoint", t.resume_from_checkpoint);
  t.overwrite_output_dir = root.get<bool>("overwrite_output_dir", t.overwrite_output_dir);
  t.ddp_timeout = root.get<double>("ddp_timeout", t.ddp_timeout);
  t.gradient_checkpointing = root.get<bool>("gradient_checkpointing", t.gradient_checkpointing);
  t.bf16 = root.get<bool>("bf16", t.bf16);
  UOE_CHECK(!(root.has("fp16") && root.get<bool>("fp16", false)),
            "fp16: true is not supported (fp16 weights need loss scaling); use bf16: true");
  t.router_aux_loss_coef = root.get<double>("router_aux_loss_coef", t.router_aux_loss_coef);
  t.router_z_loss_coef = root.get<double>("router_z_loss_coef", t.router_z_loss_coef);
  t.moe_aux_loss_scope = root.get_enum("moe_aux_loss_scope", t.moe_aux_loss_scope, kAuxLossScopes);
  UOE_CHECK(t.router_aux_loss_coef >= 0 && std::isfinite(t.router_aux_loss_coef),
            "router_aux_loss_coef must be >= 0 (0: off), got ", t.router_aux_loss_coef);
  UOE_CHECK(t.router_z_loss_coef >= 0 && std::isfinite(t.router_z_loss_coef),
            "router_z_loss_coef must be >= 0 (0: off), got ", t.router_z_loss_coef);
  t.moe_router_bias_update_rate =
      root.get<double>("moe_router_bias_update_rate", t.moe_router_bias_update_rate);
  UOE_CHECK(t.moe_router_bias_update_rate >= 0 && std::isfinite(t.moe_router_bias_update_rate),
            "moe_router_bias_update_rate must be >= 0 (0: off), got ",
            t.moe_router_bias_update_rate);
  UOE_CHECK(t.ddp_timeout > 0 && std::isfinite(t.ddp_timeout),
            "ddp_timeout must be > 0 seconds (default 1800), got ", t.ddp_timeout);
  UOE_CHECK(t.save_steps >= 0, "save_steps must be >= 0 (0: no training checkpoints), got ",
            t.save_steps);
  UOE_CHECK(t.save_total_limit >= 0, "save_total_limit must be >= 0 (0: keep all), got ",
            t.save_total_limit);
  UOE_CHECK(t.max_steps >= 1 || (t.max_steps == 0 && t.num_train_epochs > 0),
            "max_steps must be >= 1 (or 0 with num_train_epochs > 0), got max_steps=", t.max_steps,
            ", num_train_epochs=", t.num_train_epochs);
  UOE_CHECK(t.logging_steps >= 1, "logging_steps must be >= 1, got ", t.logging_steps);
  UOE_CHECK(t.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1, got ",
            t.per_device_train_batch_size);
  UOE_CHECK(t.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1, got ",
            t.gradient_accumulation_steps);
  UOE_CHECK(t.learning_rate >= 0, "learning_rate must be >= 0, got ", t.learning_rate);
  UOE_CHECK(t.weight_decay >= 0, "weight_decay must be >= 0, got ", t.weight_decay);
  UOE_CHECK(t.adam_beta1 >= 0 && t.adam_beta1 < 1, "adam_beta1 must be in [0, 1)");
  UOE_CHECK(t.adam_beta2 >= 0 && t.adam_beta2 < 1, "adam_beta2 must be in [0, 1)");
  UOE_CHECK(t.adam_epsilon > 0, "adam_epsilon must be > 0");
  UOE_CHECK(t.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 disables clipping)");
  UOE_CHECK(t.warmup_ratio >= 0 && t.warmup_ratio <= 1, "warmup_ratio must be in [0, 1], got ",
            t.warmup_ratio);
  UOE_CHECK(t.warmup_steps >= 0, "warmup_steps must be >= 0, got ", t.warmup_steps);
  return t;
}

SyntheticCorpusOptions parse_data(ConfigNode node, uint64_t default_seed) {
  SyntheticCorpusOptions d;
  const auto source = node.get<std::string>("source", "synthetic");
  UOE_CHECK(source == "synthetic", "data.source must be 'synthetic', got '", source, "'");
  d.vocab_size = node.get<int64_t>("vocab_size", d.vocab_size);
  d.seq_len = node.get<int64_t>("seq_len", d.seq_len);
  d.num_topics = node.get<int64_t>("num_topics", d.num_topics);
  d.branching = node.get<int64_t>("branching", d.branching);
  d.seed = node.get<uint64_t>("seed", default_seed);
  node.finish();
  return d;
}

DatasetConfig parse_dataset(ConfigNode node) {
  DatasetConfig d;
  d.train = node.get<std::string>("train", "");
  d.forget = node.get<std::string>("forget", "");
  d.retain = node.get<std::string>("retain", "");
  d.forget_mc = node.get<std::string>("forget_mc", "");
  d.retain_mc = node.get<std::string>("retain_mc", "");
  d.tokenizer = node.get<std::string>("tokenizer", "");
  node.finish();
  UOE_CHECK((d.forget_mc.empty() && d.retain_mc.empty()) || !d.tokenizer.empty(),
            "dataset.tokenizer is required when dataset.forget_mc or dataset.retain_mc is set");
  return d;
}

SelectionConfig parse_selection(ConfigNode node) {
  SelectionConfig s;
  s.mode = node.get_enum("mode", s.mode, kSelectionModes);
  s.scope = node.get_enum("scope", s.scope, kSelectionScopes);
  s.top_m = node.get<int64_t>("top_m", s.top_m);
  s.layer = node.get<int64_t>("layer", s.layer);
  s.experts = node.get<std::vector<int64_t>>("experts", s.experts);
  s.include_shared = node.get<bool>("include_shared", s.include_shared);
  node.finish();
  UOE_CHECK(s.top_m >= 1, "unlearn.selection.top_m must be >= 1, got ", s.top_m);
  if (s.mode == SelectionMode::kFixed) {
    UOE_CHECK(s.layer >= 0 && !s.experts.empty(),
              "unlearn.selection.mode=fixed needs unlearn.selection.layer and "
              "unlearn.selection.experts");
  }
  return s;
}

UnlearnConfig parse_unlearn(ConfigNode node) {
  UnlearnConfig u;
  u.method = node.get_enum("method", u.method, kUnlearnMethods);
  u.retain_weight = node.get<double>("retain_weight", u.retain_weight);
  u.anchor_weight = node.get<double>("anchor_weight", u.anchor_weight);
  u.npo_beta = node.get<double>("npo_beta", u.npo_beta);
  u.simnpo_beta = node.get<double>("simnpo_beta", u.simnpo_beta);
  u.simnpo_delta = node.get<double>("simnpo_delta", u.simnpo_delta);
  u.rmu_steering = node.get<double>("rmu_steering", u.rmu_steering);
  u.rmu_retain_alpha = node.get<double>("rmu_retain_alpha", u.rmu_retain_alpha);
  u.rmu_layer = node.get<int64_t>("rmu_layer", u.rmu_layer);
  u.selection = parse_selection(node.child("selection"));
  node.finish();
  UOE_CHECK(u.retain_weight >= 0, "unlearn.retain_weight must be >= 0, got ", u.retain_weight);
  UOE_CHECK(u.anchor_weight >= 0, "unlearn.anchor_weight must be >= 0, got ", u.anchor_weight);
  UOE_CHECK(u.npo_beta > 0, "unlearn.npo_beta must be > 0, got ", u.npo_beta);
  UOE_CHECK(u.simnpo_beta > 0, "unlearn.simnpo_beta must be > 0, got ", u.simnpo_beta);
  UOE_CHECK(u.rmu_steering > 0, "unlearn.rmu_steering must be > 0, got ", u.rmu_steering);
  return u;
}

EvalConfig parse_eval(ConfigNode node) {
  EvalConfig e;
  e.batch_size = node.get<int64_t>("batch_size", e.batch_size);
  e.max_new_tokens = node.get<int64_t>("max_new_tokens", e.max_new_tokens);
  e.log_samples = node.get<bool>("log_samples", e.log_samples);
  node.finish();
  UOE_CHECK(e.batch_size >= 1, "eval.batch_size must be >= 1, got ", e.batch_size);
  UOE_CHECK(e.max_new_tokens >= 1, "eval.max_new_tokens must be >= 1, got ", e.max_new_tokens);
  return e;
}

FictitiousFactsOptions parse_facts(ConfigNode node, uint64_t default_seed) {
  FictitiousFactsOptions f;
  f.num_clusters = node.get<int64_t>("num_clusters", f.num_clusters);
  f.entities_per_cluster = node.get<int64_t>("entities_per_cluster", f.entities_per_cluster);
  f.relations_per_cluster = node.get<int64_t>("relations_per_cluster", f.relations_per_cluster);
  f.values_per_relation = node.get<int64_t>("values_per_relation", f.values_per_relation);
  f.paraphrases = node.get<int64_t>("paraphrases", f.paraphrases);
  f.forget_cluster = node.get<int64_t>("forget_cluster", f.forget_cluster);
  f.forget_scope = node.get<std::string>("forget_scope", f.forget_scope);
  if (f.forget_domain()) {
    UOE_CHECK(!node.has("forget_entities"),
              "facts.forget_entities does not apply with "
              "facts.forget_scope=domain (the whole domain facts.forget_cluster is forgotten)");
  } else {
    f.forget_entities = node.get<int64_t>("forget_entities", f.forget_entities);
  }
  f.num_choices = node.get<int64_t>("num_choices", f.num_choices);
  f.validation_entities = node.get<int64_t>("validation_entities", f.validation_entities);
  f.seed = node.get<uint64_t>("seed", default_seed);
  node.finish();
  f.validate();
  return f;
}

TokenizeOptions parse_tokenize(ConfigNode node) {
  TokenizeOptions t;
  t.tokenizer = node.get<std::string>("tokenizer", t.tokenizer);
  t.input = node.get<std::string>("input", t.input);
  t.output = node.get<std::string>("output", t.output);
  t.format = node.get<std::string>("format", t.format);
  t.text_key = node.get<std::string>("text_key", t.text_key);
  t.question_key = node.get<std::string>("question_key", t.question_key);
  t.answer_key = node.get<std::string>("answer_key", t.answer_key);
  t.prompt_template = node.get<std::string>("prompt_template", t.prompt_template);
  t.answer_template = node.get<std::string>("answer_template", t.answer_template);
  t.add_special_tokens = node.get<bool>("add_special_tokens", t.add_special_tokens);
  t.add_eos = node.get<bool>("add_eos", t.add_eos);
  t.max_length = node.get<int64_t>("max_length", t.max_length);
  node.finish();
  return t;
}

ExportConfig parse_export(ConfigNode node) {
  ExportConfig e;
  e.output_dir = node.get<std::string>("output_dir", "");
  e.overwrite = node.get<bool>("overwrite", e.overwrite);
  node.finish();
  return e;
}

TofuConfig parse_tofu(ConfigNode node) {
  TofuConfig t;
  t.tokenizer = node.get<std::string>("tokenizer", "");
  std::vector<std::pair<const char*, std::string*>> sets = {
      {"forget_answer", &t.forget_answer},           {"forget_paraphrased", &t.forget_paraphrased},
      {"forget_perturbed", &t.forget_perturbed},     {"retain_answer", &t.retain_answer},
      {"retain_paraphrased", &t.retain_paraphrased}, {"retain_perturbed", &t.retain_perturbed}};
  for (auto& [key, value] : sets) *value = node.get<std::string>(key, "");
  t.reference = node.get<std::string>("reference", "");
  t.max_new_tokens = node.get<int64_t>("max_new_tokens", t.max_new_tokens);
  t.rouge_questions = node.get<int64_t>("rouge_questions", t.rouge_questions);
  node.finish();
  UOE_CHECK(t.rouge_questions >= 0, "tofu.rouge_questions must be >= 0 (0: all), got ",
            t.rouge_questions);
  UOE_CHECK(t.max_new_tokens >= 1, "tofu.max_new_tokens must be >= 1, got ", t.max_new_tokens);
  if (t.enabled()) {
    UOE_CHECK(!t.tokenizer.empty(), "tofu.tokenizer is required with tofu.forget_answer");
    for (auto& [key, value] : sets) {
      UOE_CHECK(!value->empty(), "tofu.", key, " is required with tofu.forget_answer");
    }
  }
  return t;
}

}  // namespace

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig config;
  config.config_path = path;
  config.resolved = YAML::Node(YAML::NodeType::Map);
  ConfigNode root(load_yaml_with_overrides(path, overrides), config.resolved, "");
  config.training = parse_training(root);
  config.model_name_or_path = root.get<std::string>("model_name_or_path", "");
  config.delta = root.get<std::string>("delta", "");
  config.device = root.get<std::string>("device", config.device);
  UOE_CHECK(config.device == "auto" || config.device == "cpu" || config.device == "cuda",
            "device must be auto, cpu or cuda, got '", config.device, "'");
  if (config.model_name_or_path.empty()) {
    config.has_model = root.has("model");
    if (config.has_model) config.model = parse_model_config(root.child("model"));
  } else {
    config.has_model = true;
    UOE_CHECK(!root.has("model"), "set either model_name_or_path or model:, not both");
    config.model = is_hf_model_dir(config.model_name_or_path)
                       ? read_hf_config(config.model_name_or_path)
                       : read_checkpoint_config(config.model_name_or_path);
  }
  UOE_CHECK(config.delta.empty() || !config.model_name_or_path.empty(),
            "delta needs model_name_or_path (the checkpoint the delta applies to)");
  config.parallel = parse_parallel(root.child("parallel"));
  config.profile = parse_profile(root.child("profile"));
  config.data = parse_data(root.child("data"), config.training.seed);
  config.dataset = parse_dataset(root.child("dataset"));
  config.unlearn = parse_unlearn(root.child("unlearn"));
  config.eval = parse_eval(root.child("eval"));
  config.facts = parse_facts(root.child("facts"), config.training.seed);
  config.tokenize = parse_tokenize(root.child("tokenize"));
  config.export_config = parse_export(root.child("export"));
  config.tofu = parse_tofu(root.child("tofu"));
  root.finish();
  UOE_CHECK(
      config.unlearn.selection.mode != SelectionMode::kContrast || !config.dataset.retain.empty(),
      "unlearn.selection.mode=contrast needs dataset.retain (it ranks experts by forget "
      "share minus retain share)");
  config.config_hash = hex64(fnv1a(YAML::Dump(config.resolved)));
  if (!config.has_model) return config;  // `uoe make-data` needs no model
  if (config.dataset.train.empty()) config.data.validate(config.model.vocab_size);
  if (config.model.num_experts > 0) {
    UOE_CHECK(config.model.num_experts % config.parallel.ep_size == 0,
              "model.num_experts=", config.model.num_experts,
              " is not divisible by parallel.ep_size=", config.parallel.ep_size);
  }
  UOE_CHECK(
      !config.dataset.train.empty() || config.data.seq_len <= config.model.max_position_embeddings,
      "data.seq_len=", config.data.seq_len,
      " exceeds model.max_position_embeddings=", config.model.max_position_embeddings);
  return config;
}

HfExportOptions hf_export_options(const RunConfig& c) {
  return {c.model_name_or_path, c.delta, c.export_config.output_dir, c.export_config.overwrite,
          c.model.architecture};
}

}  // namespace uoe
