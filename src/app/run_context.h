#pragma once
// What every command starts with: config loaded on every rank, threads set, process groups built,
// output directory created and the resolved config printed (rank 0) and saved.
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "io/run_config.h"
#include "parallel/mpi_communicator.h"
#include "parallel/process_groups.h"

namespace uoe {

struct RunContext {
  RunConfig config;
  ProcessGroups groups;
  int threads_per_rank = 1;

  // Writes <output_dir>/summary.json (rank 0) with the layout added to `summary`.
  void write_summary(nlohmann::json summary) const;
};

RunContext make_run_context(const CommandLine& cli);

}  // namespace uoe
