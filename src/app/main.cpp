// uoe: expert-parallel SEUF unlearning for Mixture-of-Experts language models.
#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "app/commands.h"
#include "app/run_context.h"
#include "common/check.h"
#include "common/log.h"
#include "parallel/mpi_communicator.h"

int main(int argc, char** argv) {
  uoe::MpiRuntime mpi(&argc, &argv);
  int code = 0;
  try {
    const uoe::CommandLine cli = uoe::parse_command_line(argc, argv);
    if (cli.command == "help") {
      uoe::log0(uoe::usage_text());
      return 0;
    }
    code = uoe::run_command(cli);
  } catch (const uoe::AgreedExit& e) {
    code = e.code;  // already reported; every rank leaves together
  } catch (const uoe::CollectiveError& e) {
    // Every rank threw the same error at the same point: one report, a clean exit everywhere.
    if (uoe::log_rank() == 0) {
      std::fprintf(stderr, "%s %s: %s\n", uoe::rank_tag().c_str(),
                   e.code >= 128 ? "stopped" : "error", e.what());
    }
    code = e.code;
  } catch (const uoe::InputError& e) {
    std::fprintf(stderr, "%s error: %s\n", uoe::rank_tag().c_str(), e.what());
    uoe::MpiRuntime::abort(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s error: %s\n", uoe::rank_tag().c_str(), e.what());
    uoe::MpiRuntime::abort(1);
  }
  return code;
}
