#include "app/run_context.h"

#include <sstream>

#include "common/check.h"
#include "common/files.h"
#include "common/log.h"
#include "common/threads.h"

namespace uoe {

RunContext make_run_context(const CommandLine& cli) {
  RunConfig config = load_run_config(cli.config_path, cli.overrides);
  UOE_CHECK(config.parallel.backend == "mpi", "parallel.backend='", config.parallel.backend,
            "': the trainer runs on CPU tensors with the mpi backend in this version (the NCCL "
            "communicator is available to the library and its tests)");
  auto world = MpiCommunicator::world();
  const int threads = configure_threads(MpiRuntime::local_size(), config.parallel.threads_per_rank);
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
