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

// Loads and checks everything that can be checked before the first collective (config, layout).
// The ranks agree on the outcome: when any rank finds bad input, rank 0 prints its error (other
// ranks only print errors that differ from rank 0's) and every rank throws AgreedExit(2), so the
// job ends cleanly with exit code 2 instead of aborting.
RunContext make_run_context(const CommandLine& cli);

// Thrown on every rank at once; main() returns `code` after MPI_Finalize.
struct AgreedExit {
  int code;
};

}  // namespace uoe
