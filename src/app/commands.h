#pragma once
#include "app/cli.h"

namespace uoe {

// Runs one command; returns the process exit code. Throws on errors (handled in main).
int run_command(const CommandLine& cli);

}  // namespace uoe
