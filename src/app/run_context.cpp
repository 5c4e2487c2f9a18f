#include "app/run_context.h"

#include <sstream>

#include "common/check.h"
#include "common/files.h"
#include "common/log.h"
#include "common/cpu_runtime.h"

namespace uoe {

namespace {

RunConfig load_and_check(const CommandLine& cli, int world_size) {
  RunConfig config = load_run_config(cli.config_path, cli.overrides);
  UOE_CHECK(config.parallel.backend == "mpi", "parallel.backend='", config.parallel.backend,
            "': the trainer runs on CPU tensors with the mpi backend in this version (the NCCL "
            "communicator is available to the library and its tests)");
  UOE_CHECK(world_size % config.parallel.ep_size == 0, "parallel.ep_size=",
            config.parallel.ep_size, " does not divide the world size ", world_size,
            " (number of MPI ranks); use an ep_size that divides it");
  if (cli.command == "tokenize") config.tokenize.validate();
  return config;
}

// Every rank calls this with its own error ("" if none); throws AgreedExit on all ranks when any
// rank has one.
void agree_on_startup_errors(Communicator& world, const std::string& error) {
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

}  // namespace

RunContext make_run_context(const CommandLine& cli) {
  auto world = MpiCommunicator::world();
  RunConfig config;
  std::string error;
  try {
    config = load_and_check(cli, world->size());
  } catch (const InputError& e) {
    error = e.what();
  }
  agree_on_startup_errors(*world, error);
  const int threads = configure_cpu_runtime(MpiRuntime::local_size(), config.parallel.threads_per_rank);
  ProcessGroups groups = ProcessGroups::create(world, config.parallel.ep_size);
  if (groups.rank() == 0) {
    make_directories(config.training.output_dir, "output_dir");
    YAML::Emitter emitter;
    emitter << config.resolved;
    write_text_atomic(config.training.output_dir + "/config.yaml", std::string(emitter.c_str()) + "\n");
    log0("uoe ", cli.command, ": ", groups.world_size(), " ranks (ep_size=", groups.ep_size(),
         ", dp_size=", groups.dp_size(), "), ", threads, " threads per rank, LibTorch ",
         TORCH_VERSION, "\nresolved config:\n", emitter.c_str());
  }
  world->barrier();
  return RunContext{std::move(config), std::move(groups), threads};
}

void RunContext::write_summary(nlohmann::json summary) const {
  if (groups.rank() != 0) return;
  summary["world_size"] = groups.world_size();
  summary["ep_size"] = groups.ep_size();
  summary["dp_size"] = groups.dp_size();
  summary["threads_per_rank"] = threads_per_rank;
  summary["config"] = config.config_path;
  write_json_atomic(config.training.output_dir + "/summary.json", summary);
}

}  // namespace uoe
