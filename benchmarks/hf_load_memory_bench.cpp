// Memory of EP-aware HF checkpoint loading (issue: real MoE models, part 3): peak RSS per rank vs
// the bytes the rank holds (dense tensors + its E/ep experts).
//
//   hf_load_memory_bench --mode write --dir <dir> [--layers 6] [--experts 64] [--hidden 1024]
//       [--ffn 1024] [--vocab 32768]
//     writes a synthetic BF16 checkpoint (one shard per layer + index) of that shape;
//   mpiexec -np <P> hf_load_memory_bench --mode load --dir <dir> --out result.json [same shape]
//     builds the fp32 model with ep_size = P, loads the checkpoint and reports, per rank, the peak
//     RSS before building the model (start-up), after loading, and what the rank holds, and the
//     seconds spent building the model and loading it.
// The driver benchmarks/run_hf_load_memory.sh writes once and loads at 1, 2 and 4 ranks, each in
// its own processes, so that no run's peak hides another's.
//
// Correctness before measuring: every tensor is filled with a constant derived from its name, and
// after loading every parameter of every rank must hold exactly its constant.
#include <filesystem>

#include "bench_utils.h"
#include "checkpoint/hf_checkpoint.h"
#include "common/check.h"
#include "common/cpu_runtime.h"
#include "common/log.h"
#include "common/memory_info.h"
#include "formats/safetensors_writer.h"
#include "parallel/mpi_communicator.h"
#include "parallel/process_groups.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

ModelConfig bench_config(bench::Flags& flags) {
  ModelConfig c;
  c.vocab_size = flags.get_int("vocab", 32768);
  c.hidden_size = flags.get_int("hidden", 1024);
  c.num_hidden_layers = flags.get_int("layers", 6);
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.max_position_embeddings = 4096;
  c.num_experts = flags.get_int("experts", 64);
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = flags.get_int("ffn", 1024);
  return c;
}

// A BF16-exact constant per tensor name: k / 256 with k in [1, 255].
float fill_value(const std::string& name) {
  return float(std::hash<std::string>{}(name) % 255 + 1) / 256.0f;
}

NamedTensor filled(const std::string& name, at::IntArrayRef shape) {
  return {name, torch::full(shape, fill_value(name), torch::kBFloat16)};
}

// The HF tensors of layer `l` of bench_config's model (plain names, as checkpoint/hf_names.h maps
// them).
std::vector<NamedTensor> layer_tensors(const ModelConfig& c, int64_t l) {
  const int64_t h = c.hidden_size, f = c.moe_intermediate_size;
  const std::string p = c10::str("model.layers.", l, ".");
  std::vector<NamedTensor> t = {filled(p + "input_layernorm.weight", {h}),
                                filled(p + "post_attention_layernorm.weight", {h}),
                                filled(p + "mlp.gate.weight", {c.num_experts, h})};
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
    t.push_back(filled(p + "self_attn." + proj + ".weight", {h, h}));
  }
  for (int64_t e = 0; e < c.num_experts; ++e) {
    const std::string expert = c10::str(p, "mlp.experts.", e, ".");
    t.push_back(filled(expert + "gate_proj.weight", {f, h}));
    t.push_back(filled(expert + "up_proj.weight", {f, h}));
    t.push_back(filled(expert + "down_proj.weight", {h, f}));
  }
  return t;
}

int write_checkpoint(const ModelConfig& c, const std::string& dir) {
  fs::create_directories(dir);
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  const int64_t num_shards = c.num_hidden_layers + 1;
  for (int64_t shard = 0; shard < num_shards; ++shard) {
    std::vector<NamedTensor> tensors;
    if (shard < c.num_hidden_layers) {
      tensors = layer_tensors(c, shard);
    } else {
      tensors = {filled("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}),
                 filled("model.norm.weight", {c.hidden_size}),
                 filled("lm_head.weight", {c.vocab_size, c.hidden_size})};
    }
    const std::string name = c10::str("model-", shard + 1, "-of-", num_shards, ".safetensors");
    write_safetensors_file(dir + "/" + name, tensors);
    for (const auto& t : tensors) {
      weight_map[t.name] = name;
      total += t.tensor.numel() * t.tensor.element_size();
    }
  }
  write_safetensors_index(dir, weight_map, total);
  log0("wrote ", dir, ": ", num_shards, " shards, ", total / double(1 << 30), " GiB (BF16)");
  return 0;
}

int load_checkpoint_measured(const ModelConfig& c, const std::string& dir, const std::string& out) {
  auto world = MpiCommunicator::world();
  configure_cpu_runtime(MpiRuntime::local_size());
  auto groups = ProcessGroups::create(world, world->size());
  const SafetensorsCheckpoint checkpoint(dir);
  const int64_t start_rss = peak_rss_bytes();

  const double t_build = bench::now_seconds();
  CausalLM model(c, groups.ep());
  const double build_s = bench::now_seconds() - t_build;
  const double t0 = bench::now_seconds();
  const HfLoadReport report = load_hf_checkpoint(checkpoint, model, "");
  const double load_s = bench::now_seconds() - t0;
  const int64_t peak_rss = peak_rss_bytes();

  int64_t wrong = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string hf = item.key() == "lm_head.weight" ? item.key() : "model." + item.key();
    const auto& t = item.value();
    if (!(t.min().item<float>() == fill_value(hf) && t.max().item<float>() == fill_value(hf)))
      ++wrong;
  }
  UOE_CHECK(wrong == 0, wrong, " tensors do not hold their checkpoint values");

  const int64_t held = report.dense_bytes + report.expert_bytes;
  auto mine = torch::tensor({start_rss, peak_rss, report.dense_bytes, report.expert_bytes,
                             int64_t(load_s * 1e6), int64_t(build_s * 1e6)});
  auto all = torch::empty({world->size() * 6}, torch::kInt64);
  world->all_gather(all, mine);
  all = all.reshape({world->size(), 6});
  if (world->rank() != 0) return 0;

  const int64_t per_expert = 3 * c.hidden_size * c.moe_intermediate_size * 4;
  nlohmann::json ranks = nlohmann::json::array();
  for (int r = 0; r < world->size(); ++r) {
    const auto row = all[r];
    const int64_t start = row[0].item<int64_t>(), peak = row[1].item<int64_t>();
    const int64_t rank_held = row[2].item<int64_t>() + row[3].item<int64_t>();
    ranks.push_back({{"rank", r},
                     {"start_rss_bytes", start},
                     {"peak_rss_bytes", peak},
                     {"held_bytes", rank_held},
                     {"dense_bytes", row[2].item<int64_t>()},
                     {"expert_bytes", row[3].item<int64_t>()},
                     {"peak_minus_start_over_held", double(peak - start) / double(rank_held)},
                     {"load_s", row[4].item<int64_t>() * 1e-6},
                     {"build_s", row[5].item<int64_t>() * 1e-6}});
  }
  const int64_t full_model = report.dense_bytes + per_expert * c.num_experts * c.num_moe_layers();
  bench::write_json(
      out, {{"ep_size", world->size()},
            {"checkpoint_bf16_bytes", checkpoint.index_metadata().value("total_size", uint64_t(0))},
            {"full_model_fp32_bytes", full_model},
            {"model",
             {{"layers", c.num_hidden_layers},
              {"experts", c.num_experts},
              {"hidden", c.hidden_size},
              {"ffn", c.moe_intermediate_size},
              {"vocab", c.vocab_size}}},
            {"ranks", ranks}});
  constexpr double kMiB = 1 << 20;
  log0("ep=", world->size(), ": rank 0 holds ", held / kMiB, " MiB (dense ",
       report.dense_bytes / kMiB, " + experts ", report.expert_bytes / kMiB, "), peak RSS ",
       peak_rss / kMiB, " MiB (start ", start_rss / kMiB, "), full fp32 model ", full_model / kMiB,
       " MiB, build ", build_s, " s, load ", load_s, " s");
  return 0;
}

int run(bench::Flags& flags) {
  const std::string mode = flags.get_string("mode", "load");
  const std::string dir = flags.get_string("dir", "runs/bench/hf_load_checkpoint");
  const std::string out = flags.get_string("out", "runs/bench/hf_load_memory.json");
  const ModelConfig config = bench_config(flags);
  flags.check_all_used();
  UOE_CHECK(mode == "write" || mode == "load", "--mode must be write or load, got '", mode, "'");
  return mode == "write" ? write_checkpoint(config, dir)
                         : load_checkpoint_measured(config, dir, out);
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
