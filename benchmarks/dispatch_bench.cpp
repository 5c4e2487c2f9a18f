// Token dispatcher communication cost against raw MPI_Alltoallv of the same rows. Run under
// mpirun with P ranks; the EP group is the whole world (ep_size = P). Both transports of the
// dispatcher are measured in the same run: node-shared memory (the default when the ranks share
// a node) and the all-to-all exchange (`parallel.shared_memory_dispatch: false`).
//
// Notation: T tokens per rank, H hidden, E routed experts, K experts per token, P ranks,
// El = E / P experts per rank, R rows this rank receives (sum over sources of its experts' rows).
//
// 1. Checks, on every rank, for each transport, before timing (closed form: each rank
//    regenerates every rank's inputs from the seed, as nccl-tests and DeepEP tag inputs by rank):
//      dispatch   returns exactly the expected [R, H] rows: for each local expert, for each source
//                 rank in order, the source's tokens routed to that expert in token order;
//      combine    of the dispatched rows with weights 1/K (identity experts) returns the input;
//      backward   of dispatch+combine with those weights returns the output gradient unchanged.
//    Any failure ends the program with exit code 1 on all ranks before anything is timed.
// 2. Times, round-robin, the maximum over ranks of each step (median over --iters):
//      dispatcher fwd     : dispatch + combine (identity experts, no grad), per transport
//      raw fwd            : 2 x MPI_Alltoallv of the same row counts ([T*K, H] -> [R, H] -> back)
//      dispatcher fwd+bwd : dispatch + combine + backward through both, per transport
//      raw fwd+bwd        : 4 x MPI_Alltoallv of the same row counts
//    Ratios dispatcher / raw; target <= 1.2. Also the forward's phases (StepProfiler) and the
//    ratio of the pure token exchange (both directions) to raw. The identity experts hand the
//    dispatched rows to combine, which writes them into the shared block; the ratio counts that
//    write. In the MoE layer it is the expert bank's concatenation (timed as expert_compute), so
//    the ratio without it is reported too.
#include <torch/torch.h>

#include <mpi.h>

#include <climits>
#include <map>
#include <numeric>

#include "bench_utils.h"
#include "common/check.h"
#include "common/cpu_runtime.h"
#include "common/log.h"
#include "common/step_profiler.h"
#include "moe/token_dispatcher.h"
#include "parallel/mpi_communicator.h"
#include "parallel/process_groups.h"

namespace uoe::bench {
namespace {

constexpr double kTargetRatio = 1.2;

struct Inputs {
  torch::Tensor hidden;    // [T, H]
  torch::Tensor topk_ids;  // [T, K] distinct experts per token, uniformly random
};

// Inputs of `rank`, identical on every rank that generates them.
Inputs make_inputs(int rank, uint64_t seed, int64_t tokens, int64_t hidden, int64_t experts,
                   int64_t top_k) {
  torch::manual_seed(seed + rank);
  Inputs in;
  in.hidden = torch::randn({tokens, hidden});
  in.topk_ids = std::get<1>(torch::randn({tokens, experts}).topk(top_k, -1));
  return in;
}

// The rows this rank must receive, in the dispatcher's documented order: local expert, then
// source rank, then token. all_inputs[s] are rank s's inputs.
torch::Tensor expected_rows(const std::vector<Inputs>& all_inputs, int64_t first_expert,
                            int64_t num_local_experts) {
  std::vector<torch::Tensor> blocks;
  for (int64_t e = first_expert; e < first_expert + num_local_experts; ++e) {
    for (const auto& in : all_inputs) {
      auto tokens = (in.topk_ids == e).any(1).nonzero().view({-1});  // [n] ascending
      blocks.push_back(in.hidden.index_select(0, tokens));           // [n, H]
    }
  }
  return torch::cat(blocks, 0);  // [R, H]
}

// Maximum of `value` over the ranks of `comm`.
double max_over_ranks(Communicator& comm, double value) {
  auto t = torch::tensor({value}, torch::kFloat64);
  comm.all_reduce(t, ReduceOp::kMax);
  return t.item<double>();
}

// MPI_Alltoallv of fp32 rows with per-rank row counts.
class RawExchange {
 public:
  RawExchange(MPI_Comm comm, const std::vector<int64_t>& send_rows,
              const std::vector<int64_t>& recv_rows, int64_t row_elems)
      : comm_(comm) {
    auto fill = [&](const std::vector<int64_t>& rows, std::vector<int>& counts,
                    std::vector<int>& displs) {
      int64_t offset = 0;
      for (int64_t r : rows) {
        UOE_ASSERT(r * row_elems <= INT_MAX && offset <= INT_MAX, "message too large");
        counts.push_back(static_cast<int>(r * row_elems));
        displs.push_back(static_cast<int>(offset));
        offset += r * row_elems;
      }
    };
    fill(send_rows, send_counts_, send_displs_);
    fill(recv_rows, recv_counts_, recv_displs_);
  }

  // [sum(send_rows), H] -> [sum(recv_rows), H]; `reverse` swaps the two directions.
  void run(const torch::Tensor& input, torch::Tensor& output, bool reverse) const {
    const auto& sc = reverse ? recv_counts_ : send_counts_;
    const auto& sd = reverse ? recv_displs_ : send_displs_;
    const auto& rc = reverse ? send_counts_ : recv_counts_;
    const auto& rd = reverse ? send_displs_ : recv_displs_;
    MPI_CHECK(MPI_Alltoallv(input.data_ptr<float>(), sc.data(), sd.data(), MPI_FLOAT,
                            output.data_ptr<float>(), rc.data(), rd.data(), MPI_FLOAT, comm_));
  }

 private:
  MPI_Comm comm_;
  std::vector<int> send_counts_, send_displs_, recv_counts_, recv_displs_;
};

int run(int argc, char** argv) {
  Flags flags(argc, argv);
  const std::string name = flags.get_string("name", "custom");
  const int64_t hidden = flags.get_int("hidden", 1024);
  const int64_t experts = flags.get_int("experts", 16);
  const int64_t top_k = flags.get_int("top-k", 4);
  const int64_t tokens = flags.get_int("tokens", 4096);
  const uint64_t seed = flags.get_int("seed", 1234);
  const int64_t warmup = flags.get_int("warmup", 1);
  const int64_t iters = flags.get_int("iters", 5);
  const int threads = configure_cpu_runtime(MpiRuntime::local_size(), flags.get_int("threads", 0));
  const std::string json_path = flags.get_string("json", "");
  flags.check_all_used();

  auto world = MpiCommunicator::world();
  const int ranks = world->size();
  auto groups = ProcessGroups::create(world, ranks);
  const ProcessGroup& ep_group = groups.ep();
  const CommunicatorPtr& ep = ep_group.control;  // barriers and the agreement on timings
  auto* ep_mpi = dynamic_cast<MpiCommunicator*>(ep_group.data.get());
  UOE_ASSERT(ep_mpi != nullptr, "the EP group is not an MPI communicator");
  log0("dispatch_bench ", name, ": ", ranks, " ranks x ", threads, " threads, T=", tokens,
       " per rank, H=", hidden, " E=", experts, " K=", top_k,
       node_shared_memory(*ep_mpi) ? " (ranks share a node)" : " (ranks span nodes)");

  std::vector<Inputs> all_inputs;
  for (int r = 0; r < ranks; ++r) {
    all_inputs.push_back(make_inputs(r, seed, tokens, hidden, experts, top_k));
  }
  const Inputs& mine = all_inputs[ep->rank()];
  const auto weights = torch::full({tokens, top_k}, 1.0 / double(top_k));  // [T, K]
  const auto grad_out = torch::randn({tokens, hidden});                    // [T, H]

  struct Transport {
    std::string name;
    std::unique_ptr<TokenDispatcher> dispatcher;
  };
  std::vector<Transport> transports;
  for (const bool shared_memory : {true, false}) {
    Transport t{shared_memory ? "shared_memory" : "all_to_all",
                std::make_unique<TokenDispatcher>(ep_group, experts)};
    t.dispatcher->set_shared_memory(shared_memory);
    transports.push_back(std::move(t));
  }

  // Correctness. Every rank runs every step (collectives), then all ranks agree on the verdict.
  nlohmann::json check;
  DispatchPlan plan;
  for (auto& transport : transports) {
    auto x = mine.hidden.clone().requires_grad_(true);  // [T, H]
    auto dispatched = transport.dispatcher->dispatch(x, mine.topk_ids);
    plan = dispatched.second;
    const bool through_shared_memory =
        std::string(transport.dispatcher->transport_name()) == "shared_memory";
    const auto expected = expected_rows(all_inputs, transport.dispatcher->first_local_expert(),
                                        transport.dispatcher->num_local_experts());
    const bool rows_ok = dispatched.first.sizes() == expected.sizes() &&
                         torch::equal(dispatched.first.detach(), expected);
    auto out =
        transport.dispatcher->combine(dispatched.first, plan, weights, /*differentiable=*/true);
    out.backward(grad_out);
    const auto combine_err = compare(out, mine.hidden);
    const auto grad_err = compare(x.grad(), grad_out);
    constexpr double kTolerance = 1e-6;
    const double local_ok =
        rows_ok && combine_err.relative <= kTolerance && grad_err.relative <= kTolerance ? 1 : 0;
    const double worst_combine = max_over_ranks(*ep, combine_err.relative);
    const double worst_grad = max_over_ranks(*ep, grad_err.relative);
    const bool passed = -max_over_ranks(*ep, -local_ok) == 1;  // min over ranks
    check[transport.name] = {{"dispatch_rows_exact", rows_ok},
                             {"through_shared_memory", through_shared_memory},
                             {"combine_relative_error_max", worst_combine},
                             {"backward_relative_error_max", worst_grad},
                             {"tolerance_relative", kTolerance},
                             {"passed", passed}};
    log0("  check ", transport.name, (through_shared_memory ? "" : " (all-to-all used)"),
         ": dispatch rows exact (rank 0): ", rows_ok ? "yes" : "NO",
         "; combine(dispatch(x)) vs x: relative error ", worst_combine,
         "; backward vs grad_out: relative error ", worst_grad, passed ? "  ok" : "  MISMATCH");
    if (!passed) {
      if (ep->rank() == 0) std::fprintf(stderr, "dispatch_bench %s: check failed\n", name.c_str());
      return 1;
    }
  }

  // Raw exchange of the same row counts, into preallocated buffers.
  const RawExchange raw(ep_mpi->handle(), plan.send_splits, plan.recv_splits, hidden);
  const int64_t sent_rows = tokens * top_k;
  const int64_t received_rows =
      std::accumulate(plan.recv_splits.begin(), plan.recv_splits.end(), int64_t{0});
  auto send_buf = mine.hidden.repeat({top_k, 1});         // [T*K, H]
  auto recv_buf = torch::empty({received_rows, hidden});  // [R, H]
  auto back_buf = torch::empty({sent_rows, hidden});      // [T*K, H]

  // Per transport: breakdown of the forward (warm-up included) into dispatch / combine and the
  // StepProfiler phases (the trainer's breakdown), max over ranks per iteration.
  // "token_all_to_all" is the pure exchange (both directions); the rest are local passes.
  // "expert_compute" is the concatenation of the experts' outputs where combine sends them from
  // (for identity experts: writing the dispatched rows into the shared block; nothing for the
  // all-to-all, which sends the dispatched rows as they are).
  const std::vector<std::string> phases = {"permutation", "count_exchange", "token_all_to_all",
                                           "expert_compute", "combine"};
  struct Breakdown {
    std::vector<double> dispatch_s, combine_s;
    std::vector<double> unplaced_s;  // dispatch + combine without placing the expert outputs
    std::map<std::string, std::vector<double>> phase_s;
    StepProfiler profiler;
  };
  std::vector<Breakdown> breakdowns(transports.size());
  std::vector<Step> steps;
  for (size_t i = 0; i < transports.size(); ++i) {
    TokenDispatcher& dispatcher = *transports[i].dispatcher;
    Breakdown& b = breakdowns[i];
    steps.push_back([&] {
      torch::NoGradGuard no_grad;
      ep->barrier();
      b.profiler.start_step();
      dispatcher.set_profiler(&b.profiler, 0);
      const double t0 = now_seconds();
      auto [rows, p] = dispatcher.dispatch(mine.hidden, mine.topk_ids);  // [R, H]
      const double t1 = now_seconds();
      auto out = dispatcher.combine(rows, p, weights, /*differentiable=*/false);  // [T, H]
      const double t2 = now_seconds();
      dispatcher.set_profiler(nullptr, StepProfiler::kNoLayer);
      const auto record = b.profiler.end_step(0);
      for (const auto& phase : phases) {
        b.phase_s[phase].push_back(max_over_ranks(*ep, record["phases_s"].value(phase, 0.0)));
      }
      b.unplaced_s.push_back(
          max_over_ranks(*ep, t2 - t0 - record["phases_s"].value("expert_compute", 0.0)));
      b.dispatch_s.push_back(max_over_ranks(*ep, t1 - t0));
      b.combine_s.push_back(max_over_ranks(*ep, t2 - t1));
      return max_over_ranks(*ep, t2 - t0);
    });
  }
  steps.push_back([&] {  // raw fwd
    ep->barrier();
    const double t0 = now_seconds();
    raw.run(send_buf, recv_buf, /*reverse=*/false);
    raw.run(recv_buf, back_buf, /*reverse=*/true);
    return max_over_ranks(*ep, now_seconds() - t0);
  });
  auto x = mine.hidden.clone().requires_grad_(true);  // [T, H]
  for (auto& transport : transports) {
    TokenDispatcher& dispatcher = *transport.dispatcher;
    steps.push_back([&] {
      x.mutable_grad() = torch::Tensor();
      ep->barrier();
      const double t0 = now_seconds();
      auto [rows, p] = dispatcher.dispatch(x, mine.topk_ids);
      dispatcher.combine(rows, p, weights, /*differentiable=*/true).backward(grad_out);
      return max_over_ranks(*ep, now_seconds() - t0);
    });
  }
  steps.push_back([&] {  // raw fwd+bwd
    ep->barrier();
    const double t0 = now_seconds();
    for (int i = 0; i < 2; ++i) {
      raw.run(send_buf, recv_buf, /*reverse=*/false);
      raw.run(recv_buf, back_buf, /*reverse=*/true);
    }
    return max_over_ranks(*ep, now_seconds() - t0);
  });
  const auto timed = time_interleaved(warmup, iters, steps);
  const size_t n = transports.size();
  const auto& raw_fwd = timed[n];
  const auto& raw_fwd_bwd = timed[2 * n + 1];

  const double bytes_per_exchange = double(sent_rows) * double(hidden) * 4.0;
  nlohmann::json result = {
      {"benchmark", "dispatch"},
      {"name", name},
      {"ranks", ranks},
      {"threads_per_rank", threads},
      {"shape", {{"hidden", hidden}, {"experts", experts}, {"top_k", top_k}, {"tokens", tokens}}},
      {"warmup", warmup},
      {"iters", iters},
      {"bytes_sent_per_rank_per_exchange", bytes_per_exchange},
      {"send_splits_rank0", plan.send_splits},
      {"check", check},
      {"raw_alltoallv_x2", timing_json(raw_fwd)},
      {"raw_alltoallv_x4", timing_json(raw_fwd_bwd)},
      {"raw_gb_per_s_per_rank", 2.0 * bytes_per_exchange / median(raw_fwd) / 1e9},
  };
  log0("  raw 2 x Alltoallv ", median(raw_fwd) * 1e3, " ms (",
       2.0 * bytes_per_exchange / median(raw_fwd) / 1e9, " GB/s per rank); raw 4 x ",
       median(raw_fwd_bwd) * 1e3, " ms");
  for (size_t i = 0; i < n; ++i) {
    Breakdown& b = breakdowns[i];
    const auto& fwd = timed[i];
    const auto& fwd_bwd = timed[n + 1 + i];
    b.dispatch_s.erase(b.dispatch_s.begin(), b.dispatch_s.begin() + warmup);
    b.combine_s.erase(b.combine_s.begin(), b.combine_s.begin() + warmup);
    nlohmann::json phases_json;
    for (auto& [phase, seconds] : b.phase_s) {
      seconds.erase(seconds.begin(), seconds.begin() + warmup);
      phases_json[phase + "_median_s"] = median(seconds);
    }
    // The pure exchange against the raw exchange: both directions, same rows, same rank count.
    const double ratio_exchange = median(b.phase_s["token_all_to_all"]) / median(raw_fwd);
    const double ratio_fwd = median(fwd) / median(raw_fwd);
    const double ratio_fwd_bwd = median(fwd_bwd) / median(raw_fwd_bwd);
    // Without placing the expert outputs: what the MoE layer pays on top of its experts, whose
    // concatenation does that placement in either transport.
    b.unplaced_s.erase(b.unplaced_s.begin(), b.unplaced_s.begin() + warmup);
    const double ratio_fwd_unplaced = median(b.unplaced_s) / median(raw_fwd);
    result["transports"][transports[i].name] = {
        {"dispatcher_fwd", timing_json(fwd)},
        {"dispatcher_fwd_bwd", timing_json(fwd_bwd)},
        {"breakdown_fwd",
         {{"dispatch_median_s", median(b.dispatch_s)},
          {"combine_median_s", median(b.combine_s)},
          {"phases", phases_json}}},
        {"ratios",
         {{"fwd", ratio_fwd},
          {"fwd_bwd", ratio_fwd_bwd},
          {"exchange_fwd", ratio_exchange},
          {"fwd_without_expert_output_placement", ratio_fwd_unplaced}}},
        {"ratios_of_minimums",
         {{"fwd", minimum(fwd) / minimum(raw_fwd)},
          {"fwd_bwd", minimum(fwd_bwd) / minimum(raw_fwd_bwd)}}},
        {"targets",
         {{"ratio_max", kTargetRatio},
          {"fwd_met", ratio_fwd <= kTargetRatio},
          {"fwd_bwd_met", ratio_fwd_bwd <= kTargetRatio}}},
    };
    log0("  ", transports[i].name, ": dispatch+combine ", median(fwd) * 1e3, " ms (dispatch ",
         median(b.dispatch_s) * 1e3, ", combine ", median(b.combine_s) * 1e3, "): ratio ",
         ratio_fwd, " (target <= ", kTargetRatio, "); without placing the expert outputs ",
         ratio_fwd_unplaced, "; fwd+bwd ", median(fwd_bwd) * 1e3, " ms: ratio ", ratio_fwd_bwd);
    log0("    forward phases (median of max over ranks): permutation ",
         median(b.phase_s["permutation"]) * 1e3, " ms, count exchange ",
         median(b.phase_s["count_exchange"]) * 1e3, " ms, token exchange (2 directions) ",
         median(b.phase_s["token_all_to_all"]) * 1e3, " ms, placing the expert outputs ",
         median(b.phase_s["expert_compute"]) * 1e3, " ms, weighted combine ",
         median(b.phase_s["combine"]) * 1e3, " ms; pure exchange / raw: ratio ", ratio_exchange);
  }
  if (ep->rank() == 0 && !json_path.empty()) write_json(json_path, result);
  return 0;
}

}  // namespace
}  // namespace uoe::bench

int main(int argc, char** argv) {
  uoe::MpiRuntime mpi(&argc, &argv);
  return uoe::bench::run_main([&] { return uoe::bench::run(argc, argv); },
                              [](int code) { uoe::MpiRuntime::abort(code); });
}
