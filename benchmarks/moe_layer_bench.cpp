// MoE layer forward+backward throughput on one process (no expert parallelism), on the CPU or
// (--device cuda) on a GPU, timed in --dtype (float32 or bfloat16; the check always runs in fp32).
//
// Notation: T tokens, H hidden, F expert intermediate size, E routed experts, K experts per token,
// n_e rows routed to expert e (sum_e n_e = T*K).
//
// 1. Starts the PyTorch reference (moe_reference.py --serve 1, HF-style MoE block) as a child
//    process; it builds the same weights and inputs from the shared init spec and writes its
//    output and gradients. uoe::MoELayer is checked against them first, both in fp32 on --device:
//    any relative error above --tolerance ends the program with exit code 1 before anything is
//    timed. Both then convert their weights and inputs to --dtype.
// 2. Times, round-robin (one of each per round, so that all see the same machine load), with a
//    median over --iters rounds after --warmup rounds:
//      python : the reference's forward + backward, timed inside the child process
//      layer  : MoELayer forward + backward (router, dispatch, experts, combine)     [T, H]
//      bank   : ExpertBank forward + backward on rows already grouped by expert      [T*K, H]
//      gemm   : the 9 plain torch::mm per expert that bank does (3 forward, 6 backward), into
//               preallocated outputs: the GEMM rate of exactly these shapes on this machine.
//      frozen bank, frozen gemm: the same with every expert frozen, SEUF's case for all experts
//               but one: backward computes input gradients only (6 of the 9 GEMMs), and on CUDA
//               with bf16 the bank runs them as grouped GEMMs (moe/expert_bank.h; the JSON's
//               expert_bank_frozen.path says which path ran).
//    Expert FLOPs counted: 9 GEMMs * 2 * n_e * H * F, summed over experts (6 GEMMs when frozen).
// 3. Writes JSON with the timings, the ratios (layer and bank vs gemm, layer vs python) and the
//    targets.
#include <torch/torch.h>

#include <cstdio>
#include <numeric>

#include "bench_utils.h"
#include "co_process.h"
#include "common/check.h"
#include "common/cpu_runtime.h"
#include "common/log.h"
#include "moe/moe_layer.h"

namespace uoe::bench {
namespace {

constexpr double kTargetLayerVsGemm = 0.7;
constexpr double kTargetSpeedupVsPython = 1.3;

struct Shape {
  std::string name;
  int64_t hidden = 0, ffn = 0, experts = 0, top_k = 0, tokens = 0;
  bool norm_topk_prob = false;

  // Multiply-adds of `gemms` expert GEMMs over all T*K routed rows, times 2: 9 trainable (fwd 3,
  // bwd 6), 6 frozen (fwd 3, bwd 3: input gradients only).
  double expert_flops(int gemms) const {
    return gemms * 2.0 * double(tokens * top_k) * double(hidden) * double(ffn);
  }
  nlohmann::json to_json() const {
    return {{"hidden", hidden}, {"ffn", ffn},       {"experts", experts},
            {"top_k", top_k},   {"tokens", tokens}, {"norm_topk_prob", norm_topk_prob}};
  }
};

void reset_grads(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.mutable_grad() = torch::Tensor();
}

// Weights and inputs of the init spec, drawn in this exact order after manual_seed(seed):
// router [E, H] * 0.02; per expert e: gate_proj [F, H], up_proj [F, H], down_proj [H, F], each
// * 0.02; hidden [T, H]; grad_out [T, H].
std::pair<torch::Tensor, torch::Tensor> init_from_spec(MoELayer& layer, const Shape& s,
                                                       uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  constexpr double kStd = 0.02;
  layer->gate->weight.copy_(normal({s.experts, s.hidden}, kStd));
  for (int64_t e = 0; e < s.experts; ++e) {
    auto& expert = layer->experts->expert(e);
    expert->gate_proj->weight.copy_(normal({s.ffn, s.hidden}, kStd));
    expert->up_proj->weight.copy_(normal({s.ffn, s.hidden}, kStd));
    expert->down_proj->weight.copy_(normal({s.hidden, s.ffn}, kStd));
  }
  auto hidden = normal({s.tokens, s.hidden});    // [T, H]
  auto grad_out = normal({s.tokens, s.hidden});  // [T, H]
  return {hidden, grad_out};
}

// Compares output and gradients with the reference files and returns the JSON record; sets
// *passed instead of throwing, so that every error is printed before the caller fails.
nlohmann::json check_against_reference(MoELayer& layer, const Shape& s, const torch::Tensor& hidden,
                                       const torch::Tensor& grad_out, const std::string& prefix,
                                       double tolerance, bool* passed) {
  reset_grads(*layer);
  auto x = hidden.clone().requires_grad_(true);  // [T, H]
  auto out = layer->forward(x);
  out.hidden.backward(grad_out);
  const int64_t last = s.experts - 1;
  struct Item {
    const char* name;
    torch::Tensor actual;
    std::vector<int64_t> shape;
  };
  const std::vector<Item> items = {
      {"out", out.hidden, {s.tokens, s.hidden}},
      {"grad_hidden", x.grad(), {s.tokens, s.hidden}},
      {"grad_router", layer->gate->weight.grad(), {s.experts, s.hidden}},
      {"grad_last_expert_gate_proj",
       layer->experts->expert(last)->gate_proj->weight.grad(),
       {s.ffn, s.hidden}},
  };
  nlohmann::json record = {{"tolerance_relative", tolerance}};
  *passed = true;
  for (const auto& item : items) {
    UOE_ASSERT(item.actual.defined(), item.name, " is undefined after backward");
    const auto expected = read_f32(prefix + "." + item.name + ".f32", item.shape);
    const auto err = compare(item.actual, expected);
    const bool ok = err.relative <= tolerance;
    *passed = *passed && ok;
    log0("  check ", item.name, ": relative error ", err.relative, ", max abs ", err.max_abs,
         ok ? "  ok" : "  MISMATCH");
    record[item.name] = {{"relative", err.relative}, {"max_abs", err.max_abs}};
  }
  record["passed"] = *passed;
  return record;
}

// The 9 GEMMs of one SwiGLU expert's forward+backward on n rows, as plain torch::mm_out; the 6 of
// a frozen expert without the weight gradients.
class ExpertGemms {
 public:
  ExpertGemms(SwiGLU& expert, const torch::Tensor& rows, const torch::Tensor& grad_rows)
      : x_(rows.detach()),
        dy_(grad_rows.detach()),
        wg_(expert->gate_proj->weight.detach()),
        wu_(expert->up_proj->weight.detach()),
        wd_(expert->down_proj->weight.detach()) {
    const int64_t n = rows.size(0), h = wg_.size(1), f = wg_.size(0);
    const auto like = x_.options();
    g_ = torch::empty({n, f}, like);    // [n, F] gate activations (also stands in for silu(g) * u)
    u_ = torch::empty({n, f}, like);    // [n, F]
    y_ = torch::empty({n, h}, like);    // [n, H]
    da_ = torch::empty({n, f}, like);   // [n, F] (also stands in for the gate and up gradients)
    dx_ = torch::empty({n, h}, like);   // [n, H]
    dwg_ = torch::empty({f, h}, like);  // [F, H]
    dwu_ = torch::empty({f, h}, like);  // [F, H]
    dwd_ = torch::empty({h, f}, like);  // [H, F]
  }

  void run(bool weight_gradients) {
    if (x_.size(0) == 0) return;
    torch::mm_out(g_, x_, wg_.t());  // [n, H] x [H, F]
    torch::mm_out(u_, x_, wu_.t());  // [n, H] x [H, F]
    torch::mm_out(y_, g_, wd_.t());  // [n, F] x [F, H]
    torch::mm_out(da_, dy_, wd_);    // [n, H] x [H, F]
    torch::mm_out(dx_, da_, wg_);    // [n, F] x [F, H]
    torch::mm_out(dx_, da_, wu_);    // [n, F] x [F, H]
    if (!weight_gradients) return;
    torch::mm_out(dwd_, dy_.t(), g_);  // [H, n] x [n, F]
    torch::mm_out(dwg_, da_.t(), x_);  // [F, n] x [n, H]
    torch::mm_out(dwu_, da_.t(), x_);  // [F, n] x [n, H]
  }

 private:
  torch::Tensor x_, dy_, wg_, wu_, wd_;
  torch::Tensor g_, u_, y_, da_, dx_, dwg_, dwu_, dwd_;
};

nlohmann::json rate_json(const std::vector<double>& seconds, double flops, int64_t tokens) {
  auto j = timing_json(seconds);
  const double t = median(seconds);
  j["tokens_per_s"] = double(tokens) / t;
  j["gflops"] = flops / t / 1e9;
  return j;
}

int run(int argc, char** argv) {
  Flags flags(argc, argv);
  Shape s;
  s.name = flags.get_string("name", "custom");
  s.hidden = flags.get_int("hidden", 1024);
  s.ffn = flags.get_int("ffn", 704);
  s.experts = flags.get_int("experts", 16);
  s.top_k = flags.get_int("top-k", 4);
  s.tokens = flags.get_int("tokens", 4096);
  s.norm_topk_prob = flags.get_bool("norm-topk-prob", false);
  const uint64_t seed = flags.get_int("seed", 1234);
  const int64_t warmup = flags.get_int("warmup", 1);
  const int64_t iters = flags.get_int("iters", 5);
  const int threads = configure_cpu_runtime(1, flags.get_int("threads", 0));
  const double tolerance = flags.get_double("tolerance", 1e-4);
  const double pause_s = flags.get_double("pause", 0.2);
  const std::string device_name = flags.get_string("device", "cpu");
  const std::string dtype_name = flags.get_string("dtype", "float32");
  const std::string python_exe = flags.get_string("python", "/usr/bin/python3");
  const std::string script = flags.get_string("reference-script", "");
  const std::string prefix = flags.get_string("reference-prefix", "");
  const std::string json_path = flags.get_string("json", "");
  flags.check_all_used();
  UOE_CHECK(!script.empty(),
            "--reference-script <path of benchmarks/moe_reference.py> is required");
  UOE_CHECK(!prefix.empty(),
            "--reference-prefix <path prefix for the reference's files> is required");
  UOE_CHECK(device_name == "cpu" || device_name == "cuda", "--device must be cpu or cuda, got '",
            device_name, "'");
  UOE_CHECK(dtype_name == "float32" || dtype_name == "bfloat16",
            "--dtype must be float32 or bfloat16, got '", dtype_name, "'");
  UOE_CHECK(device_name == "cpu" || torch::cuda::is_available(),
            "--device cuda: this LibTorch sees no CUDA device");
  const torch::Device device(device_name == "cuda" ? torch::kCUDA : torch::kCPU);
  const auto dtype = dtype_name == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  // GPU work is asynchronous: every timed step ends with a synchronisation.
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };

  log0("moe_layer_bench ", s.name, ": T=", s.tokens, " H=", s.hidden, " F=", s.ffn,
       " E=", s.experts, " K=", s.top_k, " norm_topk_prob=", s.norm_topk_prob, ", ", device_name,
       " ", dtype_name, ", ", threads, " threads");
  CoProcess python({python_exe,
                    script,
                    "--name",
                    s.name,
                    "--hidden",
                    std::to_string(s.hidden),
                    "--ffn",
                    std::to_string(s.ffn),
                    "--experts",
                    std::to_string(s.experts),
                    "--top-k",
                    std::to_string(s.top_k),
                    "--tokens",
                    std::to_string(s.tokens),
                    "--norm-topk-prob",
                    s.norm_topk_prob ? "1" : "0",
                    "--seed",
                    std::to_string(seed),
                    "--threads",
                    std::to_string(threads),
                    "--device",
                    device_name,
                    "--dtype",
                    dtype_name,
                    "--out-prefix",
                    prefix,
                    "--serve",
                    "1"});
  const std::string ready = python.read_line();
  UOE_ASSERT(ready == "ready", "the Python reference answered '", ready, "' instead of 'ready'");

  MoELayerOptions options;
  options.router.hidden_size = s.hidden;
  options.router.num_experts = s.experts;
  options.router.top_k = s.top_k;
  options.router.norm_topk_prob = s.norm_topk_prob;
  options.expert_intermediate_size = s.ffn;
  MoELayer layer(options, /*ep=*/nullptr);
  auto [cpu_hidden, cpu_grad_out] = init_from_spec(layer, s, seed);  // [T, H], [T, H]
  layer->to(device);
  auto hidden = cpu_hidden.to(device);      // [T, H]
  auto grad_out = cpu_grad_out.to(device);  // [T, H]

  bool passed = false;
  auto check = check_against_reference(layer, s, hidden, grad_out, prefix, tolerance, &passed);
  if (!passed) {
    std::fprintf(stderr, "moe_layer_bench %s: output does not match the PyTorch reference\n",
                 s.name.c_str());
    return 1;
  }
  layer->to(dtype);
  hidden = hidden.to(dtype);
  grad_out = grad_out.to(dtype);
  const double flops = s.expert_flops(9);
  const double frozen_flops = s.expert_flops(6);

  // Expert-bank input: the layer's own routing of the same tokens, grouped by expert.
  torch::Tensor rows, grad_rows;         // [T*K, H], [T*K, H]
  std::vector<int64_t> rows_per_expert;  // [E]
  {
    torch::NoGradGuard no_grad;
    auto routing = layer->gate->forward(hidden);
    auto dispatched = TokenDispatcher(nullptr, s.experts).dispatch(hidden, routing.topk_ids);
    rows = dispatched.first.clone();
    rows_per_expert = dispatched.second.rows_per_local_expert;
    grad_rows = normal({rows.size(0), s.hidden}).to(device, dtype);
  }
  rows.requires_grad_(true);
  std::vector<ExpertGemms> gemms;
  int64_t offset = 0;
  for (int64_t e = 0; e < s.experts; ++e) {
    const int64_t n = rows_per_expert[e];
    gemms.emplace_back(layer->experts->expert(e), rows.narrow(0, offset, n),
                       grad_rows.narrow(0, offset, n));
    offset += n;
  }

  // Forward/backward breakdowns, warm-up rounds included.
  std::vector<double> forward_s, backward_s, python_forward_s, python_backward_s;
  const Step python_step = [&] {
    python.send_line("step");
    const auto answer = nlohmann::json::parse(python.read_line());
    python_forward_s.push_back(answer.at("forward_s").get<double>());
    python_backward_s.push_back(answer.at("backward_s").get<double>());
    return python_forward_s.back() + python_backward_s.back();
  };
  auto x = hidden.clone().requires_grad_(true);  // [T, H]
  const Step layer_step = [&] {
    reset_grads(*layer);
    x.mutable_grad() = torch::Tensor();
    const double t0 = now_seconds();
    auto out = layer->forward(x);
    sync();
    const double t1 = now_seconds();
    out.hidden.backward(grad_out);
    sync();
    const double t2 = now_seconds();
    forward_s.push_back(t1 - t0);
    backward_s.push_back(t2 - t1);
    return t2 - t0;
  };
  const Step bank_step = [&] {
    reset_grads(*layer);
    rows.mutable_grad() = torch::Tensor();
    const double t0 = now_seconds();
    layer->experts->forward(rows, rows_per_expert).backward(grad_rows);
    sync();
    return now_seconds() - t0;
  };
  const Step gemm_step = [&] {
    const double t0 = now_seconds();
    for (auto& g : gemms) g.run(true);
    sync();
    return now_seconds() - t0;
  };
  std::vector<int64_t> every_expert(s.experts);
  std::iota(every_expert.begin(), every_expert.end(), 0);
  const Step frozen_bank_step = [&] {
    layer->experts->set_trainable_experts({});
    rows.mutable_grad() = torch::Tensor();
    const double t0 = now_seconds();
    layer->experts->forward(rows, rows_per_expert).backward(grad_rows);
    sync();
    const double t = now_seconds() - t0;
    layer->experts->set_trainable_experts(every_expert);
    return t;
  };
  const Step frozen_gemm_step = [&] {
    const double t0 = now_seconds();
    for (auto& g : gemms) g.run(false);
    sync();
    return now_seconds() - t0;
  };
  const auto timed = time_interleaved(
      warmup, iters,
      {python_step, layer_step, bank_step, gemm_step, frozen_bank_step, frozen_gemm_step}, pause_s);
  const int python_code = python.finish();
  UOE_ASSERT(python_code == 0, "the Python reference exited with code ", python_code);
  const auto& python_s = timed[0];
  const auto& layer_s = timed[1];
  const auto& bank_s = timed[2];
  const auto& gemm_s = timed[3];
  const auto& frozen_bank_s = timed[4];
  const auto& frozen_gemm_s = timed[5];
  for (auto* v : {&forward_s, &backward_s, &python_forward_s, &python_backward_s}) {
    v->erase(v->begin(), v->begin() + warmup);
  }

  nlohmann::json result = {
      {"benchmark", "moe_layer"},
      {"name", s.name},
      {"shape", s.to_json()},
      {"threads", threads},
      {"device", device_name},
      {"dtype", dtype_name},
      {"warmup", warmup},
      {"iters", iters},
      {"seed", seed},
      {"rows_per_expert", rows_per_expert},
      {"expert_gflop_fwd_bwd", flops / 1e9},
      {"expert_gflop_frozen", frozen_flops / 1e9},
      {"check", check},
      {"layer", rate_json(layer_s, flops, s.tokens)},
      {"expert_bank", rate_json(bank_s, flops, s.tokens)},
      {"gemm", rate_json(gemm_s, flops, s.tokens)},
      {"python_reference", rate_json(python_s, flops, s.tokens)},
      {"expert_bank_frozen", rate_json(frozen_bank_s, frozen_flops, s.tokens)},
      {"gemm_frozen", rate_json(frozen_gemm_s, frozen_flops, s.tokens)},
  };
  result["expert_bank_frozen"]["path"] =
      layer->experts->uses_grouped_gemm(rows) ? "grouped" : "loop";
  result["layer"]["forward_median_s"] = median(forward_s);
  result["layer"]["backward_median_s"] = median(backward_s);
  result["python_reference"]["forward_median_s"] = median(python_forward_s);
  result["python_reference"]["backward_median_s"] = median(python_backward_s);
  // Ratios of medians (the reported numbers) and of minimums (less sensitive to other load on the
  // machine, which only ever adds time).
  auto ratios = [&](double (*stat)(std::vector<double>)) {
    return nlohmann::json{{"layer_vs_gemm", stat(gemm_s) / stat(layer_s)},
                          {"bank_vs_gemm", stat(gemm_s) / stat(bank_s)},
                          {"frozen_bank_vs_gemm", stat(frozen_gemm_s) / stat(frozen_bank_s)},
                          {"speedup_vs_python", stat(python_s) / stat(layer_s)}};
  };
  result["ratios"] = ratios(median);
  result["ratios_of_minimums"] = ratios(minimum);
  const double layer_vs_gemm = result["ratios"]["layer_vs_gemm"];
  const double bank_vs_gemm = result["ratios"]["bank_vs_gemm"];
  const double speedup = result["ratios"]["speedup_vs_python"];
  result["targets"] = {{"layer_vs_gemm_min", kTargetLayerVsGemm},
                       {"speedup_vs_python_min", kTargetSpeedupVsPython},
                       {"layer_vs_gemm_met", layer_vs_gemm >= kTargetLayerVsGemm},
                       {"speedup_vs_python_met", speedup >= kTargetSpeedupVsPython}};

  auto rate = [&](const char* what, const std::vector<double>& t) {
    log0("  ", what, median(t), " s: ", double(s.tokens) / median(t), " tok/s, ",
         flops / median(t) / 1e9, " GFLOP/s");
  };
  rate("python fwd+bwd ", python_s);
  rate("layer  fwd+bwd ", layer_s);
  rate("bank   fwd+bwd ", bank_s);
  rate("gemm   9 x mm  ", gemm_s);
  const auto frozen_rate = [&](const char* what, const std::vector<double>& t) {
    log0("  ", what, median(t), " s: ", frozen_flops / median(t) / 1e9, " GFLOP/s");
  };
  frozen_rate("bank frozen     ", frozen_bank_s);
  frozen_rate("gemm frozen 6 mm ", frozen_gemm_s);
  log0("  forward/backward: layer ", median(forward_s), "/", median(backward_s), " s, python ",
       median(python_forward_s), "/", median(python_backward_s), " s");
  log0("  layer/gemm ", layer_vs_gemm, " (target >= ", kTargetLayerVsGemm, "), bank/gemm ",
       bank_vs_gemm, ", speedup vs python ", speedup, " (target >= ", kTargetSpeedupVsPython,
       "), frozen bank (", result["expert_bank_frozen"]["path"].get<std::string>(), ")/gemm ",
       result["ratios"]["frozen_bank_vs_gemm"].get<double>());
  if (!json_path.empty()) write_json(json_path, result);
  return 0;
}

}  // namespace
}  // namespace uoe::bench

int main(int argc, char** argv) {
  return uoe::bench::run_main([&] { return uoe::bench::run(argc, argv); },
                              [](int code) { std::exit(code); });
}
