#pragma once
// What every command starts with: config loaded and checked on every rank, threads set, process
// groups built, the resolved config printed (rank 0); later the output directory opened.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "common/check.h"
#include "common/device.h"
#include "config/run_config.h"
#include "parallel/mpi_communicator.h"
#include "parallel/process_groups.h"

namespace uoe {

struct RunContext {
  RunConfig config;
  DeviceChoice device;
  ProcessGroups groups;
  int threads_per_rank = 1;
  std::string resolved_yaml;   // the config with defaults filled in
  nlohmann::json memory_plan;  // the start-up memory plan (pretrain, unlearn), for summary.json

  // Collective: creates output_dir and writes config.yaml there. Commands call it once their
  // inputs have loaded, so that a run rejected for bad input leaves no output directory behind.
  void open_outputs() const;

  // Collective: writes <output_dir>/summary.json (rank 0) with the layout, the memory plan and
  // the measured peaks (the largest rank's: RSS, and on a GPU the caching allocator's allocated
  // and reserved bytes) added to `summary`.
  void write_summary(nlohmann::json summary) const;
};

// Loads and checks everything that can be checked before the first collective (config, layout).
// The ranks agree on the outcome: when any rank finds bad input, rank 0 prints its error (other
// ranks only print errors that differ from rank 0's) and every rank throws AgreedExit(2), so the
// job ends cleanly with exit code 2 instead of aborting.
// Then checks that every rank read the same config and input files (hashes), and installs the
// SIGTERM/SIGUSR1 handlers for graceful stops. With OutputPolicy::kWrite, output_dir must be
// empty or absent unless overwrite_output_dir or resume_from_checkpoint is set (see open_outputs).
enum class OutputPolicy { kWrite, kNone };
RunContext make_run_context(const CommandLine& cli, OutputPolicy outputs = OutputPolicy::kWrite);

// Thrown on every rank at once; main() returns `code` after MPI_Finalize.
struct AgreedExit {
  int code;
};

// Every rank calls this with its own error ("" if none). When any rank has one, rank 0 prints its
// error (other ranks only errors that differ from rank 0's) and every rank throws AgreedExit(2).
void agree_on_errors(Communicator& world, const std::string& error);

// Runs `fn` (local work only: reading files, building the model; no collectives) on every rank
// and agrees on InputErrors as above, so that bad input found by all ranks is reported once and
// bad input found by some ranks still ends every rank.
template <typename Fn>
auto agreed(Communicator& world, Fn&& fn) -> decltype(fn()) {
  std::optional<decltype(fn())> result;
  std::string error;
  try {
    result.emplace(fn());
  } catch (const InputError& e) {
    error = e.what();
  }
  agree_on_errors(world, error);
  return std::move(*result);
}

}  // namespace uoe
