#include "app/run_context.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "common/check.h"
#include "common/cpu_runtime.h"
#include "common/device_memory.h"
#include "common/files.h"
#include "common/hashing.h"
#include "common/log.h"
#include "common/memory_info.h"
#include "common/stop_signal.h"
#include "parallel/collective_watchdog.h"
#include "parallel/nccl_communicator.h"
#include "train/training_checkpoint.h"

namespace uoe {

namespace {

// A non-empty output_dir holds an earlier run's results: refuse to mix them with this run's
// unless the user said so (overwrite_output_dir) or asked to continue it (resume_from_checkpoint).
void check_output_dir(const TrainingConfig& t) {
  std::error_code ec;
  if (!std::filesystem::exists(t.output_dir, ec)) return;
  UOE_CHECK(std::filesystem::is_directory(t.output_dir, ec), "output_dir '", t.output_dir,
            "' exists and is not a directory");
  const bool empty = std::filesystem::is_empty(t.output_dir, ec);
  UOE_CHECK(empty || t.overwrite_output_dir || !t.resume_from_checkpoint.empty(), "output_dir '",
            t.output_dir, "' exists and is not empty; set overwrite_output_dir=true to write into ",
            "it, resume_from_checkpoint=auto to continue that run, or choose another output_dir");
}

RunConfig load_and_check(const CommandLine& cli, int world_size, OutputPolicy outputs) {
  // `uoe export` uses no expert parallelism: it runs at any world size with the unlearning config.
  std::vector<std::string> overrides = cli.overrides;
  if (cli.command == "export") overrides.push_back("parallel.ep_size=1");
  RunConfig config = load_run_config(cli.config_path, overrides);
  UOE_CHECK(world_size % config.parallel.ep_size == 0, "parallel.ep_size=", config.parallel.ep_size,
            " does not divide the world size ", world_size,
            " (number of MPI ranks); use an ep_size that divides it");
  if (cli.command == "export") check_hf_export_options(hf_export_options(config));
  if (outputs == OutputPolicy::kWrite) {
    check_output_dir(config.training);
    resolve_resume_checkpoint(config.training, world_size, config.parallel.ep_size);
  }
  if (cli.command == "tokenize") config.tokenize.validate();
  return config;
}

// The CUDA device index of every group's NCCL data channel (parallel.backend: nccl), or -1: the
// data channels are the MPI control channels (process_groups.h).
int nccl_device(const ParallelConfig& parallel, const DeviceChoice& device) {
  return parallel.backend == "nccl" ? int(device.torch_device().index()) : -1;
}

}  // namespace

void agree_on_errors(Communicator& world, const std::string& error) {
  // The error text is hashed so that ranks with the same error as rank 0 stay quiet.
  const int64_t digest = error.empty() ? 0 : int64_t(std::hash<std::string>{}(error) >> 1) + 1;
  auto status = torch::tensor({digest != 0 ? int64_t(1) : int64_t(0)});
  world.all_reduce(status, ReduceOp::kMax);
  if (status.item<int64_t>() == 0) return;
  auto root_digest = torch::tensor({digest});
  world.broadcast(root_digest, 0);
  if (!error.empty() && (world.rank() == 0 || digest != root_digest.item<int64_t>())) {
    std::fprintf(stderr, "%s error: %s\n", rank_tag().c_str(), error.c_str());
  }
  throw AgreedExit{2};
}

namespace {

// Ranks on different nodes may see different files at the same path (a stale copy, a config edited
// between submission and start). Every rank hashes what it read; rank 0 names the ranks that
// differ.
void check_same_inputs(Communicator& world, const RunConfig& config) {
  const std::pair<const char*, uint64_t> parts[] = {
      {"config (resolved)", fnv1a(config.config_hash)},
      {"model_name_or_path", path_fingerprint(config.model_name_or_path)},
      {"delta", path_fingerprint(config.delta)},
      {"dataset files",
       fnv1a(c10::str(
           path_fingerprint(config.dataset.train), path_fingerprint(config.dataset.forget),
           path_fingerprint(config.dataset.retain), path_fingerprint(config.dataset.forget_mc),
           path_fingerprint(config.dataset.retain_mc),
           path_fingerprint(config.dataset.tokenizer)))}};
  const int64_t n = std::size(parts);
  auto mine = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) mine[i] = static_cast<int64_t>(parts[i].second);
  auto all = torch::empty({world.size(), n}, torch::kInt64);
  world.all_gather(all, mine);
  std::string error;
  for (int64_t i = 0; i < n && world.rank() == 0; ++i) {
    std::string ranks;
    for (int r = 1; r < world.size(); ++r) {
      if (all[r][i].item<int64_t>() != all[0][i].item<int64_t>())
        ranks += c10::str(ranks.empty() ? "" : ", ", r);
    }
    if (!ranks.empty() && error.empty()) {
      error = c10::str("rank(s) ", ranks, " read a different ", parts[i].first,
                       " than rank 0 (hash ", hex64(uint64_t(all[0][i].item<int64_t>())),
                       "); every node must see the ", "same config, overrides and files");
    }
  }
  agree_on_errors(world, error);
}

}  // namespace

namespace {

// How MoE layers will move tokens between the EP group's ranks, for the start-up line.
// Collective over the world (the node-shared memory probe).
std::string token_transport(const ParallelConfig& parallel, const ProcessGroups& groups,
                            const DeviceChoice& device) {
  if (groups.ep_size() == 1) return "no token exchange";
  if (groups.ep().data->backend_name() == "nccl") return "tokens by NCCL all-to-all";
  // The MoE layers take node-shared memory for CPU tensors only (moe/token_dispatcher.cpp).
  if (device.is_cuda()) return "tokens by MPI all-to-all, CUDA tensors staged through host";
  if (!parallel.shared_memory_dispatch) {
    return "tokens by MPI all-to-all (parallel.shared_memory_dispatch: false)";
  }
  const bool shared = node_shared_memory(*groups.ep().data) != nullptr;
  const int64_t shared_groups =
      all_reduce_sum(*groups.world().control, groups.ep_rank() == 0 && shared ? 1 : 0);
  if (shared_groups == groups.dp_size()) return "tokens through node-shared memory";
  if (shared_groups == 0) return "tokens by MPI all-to-all (the EP group spans nodes)";
  return c10::str("tokens through node-shared memory in ", shared_groups, " of ", groups.dp_size(),
                  " EP groups, by MPI all-to-all in the others (they span nodes)");
}

// The most nodes any group of `group`'s kind spans, by MPI's placement (the one node-shared
// memory follows). Collective over the world.
int nodes_spanned(Communicator& world, Communicator& group, int node_id) {
  const auto mine = torch::full({1}, int64_t(node_id), torch::kInt64);
  auto nodes = torch::empty({group.size()}, torch::kInt64);  // [group size]
  group.all_gather(nodes, mine);
  const int64_t* ids = nodes.data_ptr<int64_t>();
  auto spanned =
      torch::full({1}, int64_t(std::set<int64_t>(ids, ids + group.size()).size()), torch::kInt64);
  world.all_reduce(spanned, ReduceOp::kMax);
  return static_cast<int>(spanned.item<int64_t>());
}

// The backend of the data channels, for the start-up line: "NCCL" or "MPI".
std::string data_transport(const ProcessGroups& groups) {
  const std::string backend = groups.world().data->backend_name();
  return backend == "nccl" ? std::string("NCCL") : std::string("MPI");
}

std::string all_reduce_transport(const std::string& transport, int nodes) {
  return nodes == 1 ? c10::str(transport, " all-reduce within a node")
                    : c10::str(transport, " all-reduce across ", nodes, " nodes");
}

// "<world> ranks on <n> nodes (<layout>; <token transport>; <gradient transports>)" for the
// start-up line. Collective over the world.
std::string layout_line(const ParallelConfig& parallel, const ProcessGroups& groups,
                        const DeviceChoice& device) {
  const int node_id = MpiRuntime::node_id();
  auto& world = *groups.world().control;
  const int nodes = nodes_spanned(world, world, node_id);
  std::string gradients = "one rank, no gradient exchange";
  if (groups.world_size() > 1) {
    const std::string transport = data_transport(groups);
    gradients = "gradients: dense by " + all_reduce_transport(transport, nodes) + ", experts ";
    gradients +=
        groups.dp_size() == 1
            ? std::string("not reduced (dp_size=1)")
            : "by " + all_reduce_transport(
                          transport, nodes_spanned(world, *groups.expert_dp().control, node_id));
    if (device.is_cuda() && transport == "MPI") gradients += ", CUDA tensors staged through host";
    if (transport == "NCCL") gradients += "; counts, sums and flags by MPI";
  }
  return c10::str(groups.world_size(), " ranks on ", nodes, nodes == 1 ? " node" : " nodes",
                  " (ep_size=", groups.ep_size(), ", dp_size=", groups.dp_size(), "; ",
                  token_transport(parallel, groups, device), "; ", gradients, ")");
}

}  // namespace

RunContext make_run_context(const CommandLine& cli, OutputPolicy outputs) {
  auto world = MpiCommunicator::world();
  RunConfig config;
  DeviceChoice device;
  std::string error;
  try {
    config = load_and_check(cli, world->size(), outputs);
    device = choose_device(config.device, device_environment());
    UOE_CHECK(config.parallel.backend != "nccl" || device.is_cuda(),
              "parallel.backend=nccl moves CUDA tensors, but this rank runs on ", device.device,
              " (", device.reason, "); use parallel.backend: mpi or device: cuda");
    UOE_CHECK(config.parallel.backend != "nccl" || nccl_available(),
              "parallel.backend=nccl: this uoe build has no NCCL backend; use parallel.backend: "
              "mpi (it stages CUDA tensors through the host) or a build with -DUOE_WITH_NCCL=ON");
  } catch (const InputError& e) {
    error = e.what();
  }
  agree_on_errors(*world, error);
  activate_device(device);
  start_collective_watchdog(config.training.ddp_timeout);
  check_same_inputs(*world, config);
  install_stop_signal_handlers();
  const int threads =
      configure_cpu_runtime(MpiRuntime::local_size(), config.parallel.threads_per_rank);
  ProcessGroups groups =
      ProcessGroups::create(world, config.parallel.ep_size, nccl_device(config.parallel, device));
  YAML::Emitter emitter;
  emitter << config.resolved;
  const std::string layout =
      layout_line(config.parallel, groups, device);  // collective: on every rank
  log0("uoe ", cli.command, ": ", layout, ", device ", device.device, " (", device.reason, "), ",
       threads, " threads per rank, LibTorch ", TORCH_VERSION, "\nresolved config:\n",
       emitter.c_str());
  return RunContext{std::move(config), std::move(device), std::move(groups),
                    threads,           emitter.c_str(),   nlohmann::json()};
}

void RunContext::open_outputs() const {
  if (groups.rank() == 0) {
    const TrainingConfig& t = config.training;
    make_directories(t.output_dir, "output_dir");
    if (t.overwrite_output_dir && t.resume_from_checkpoint.empty()) {
      remove_training_checkpoints(t.output_dir);
    }
    write_text_atomic(t.output_dir + "/config.yaml", resolved_yaml + "\n");
  }
  groups.world().control->barrier();
}

void RunContext::write_summary(nlohmann::json summary) const {
  // The host's peak resident set, and on a GPU its caching allocator's peaks; the largest rank's.
  const auto device_peak = device_peak_memory(device.device).value_or(DevicePeakMemory{});
  auto peak = torch::tensor(
      {peak_rss_bytes(), device_peak.allocated_bytes, device_peak.reserved_bytes});  // [3]
  groups.world().control->all_reduce(peak, ReduceOp::kMax);
  if (groups.rank() != 0) return;
  nlohmann::json memory = memory_plan.is_null() ? nlohmann::json::object() : memory_plan;
  memory["measured_peak_rss_bytes_max_rank"] = peak[0].item<int64_t>();
  if (device.device != "cpu") {
    memory["measured_peak_device_allocated_bytes_max_rank"] = peak[1].item<int64_t>();
    memory["measured_peak_device_reserved_bytes_max_rank"] = peak[2].item<int64_t>();
  }
  summary["memory"] = memory;
  summary["world_size"] = groups.world_size();
  summary["ep_size"] = groups.ep_size();
  summary["dp_size"] = groups.dp_size();
  summary["threads_per_rank"] = threads_per_rank;
  summary["config"] = config.config_path;
  write_json_atomic(config.training.output_dir + "/summary.json", summary);
}

}  // namespace uoe
