#pragma once
// Command line: uoe <command> <config.yaml> [dotted.key=value ...]
#include <string>
#include <vector>

namespace uoe {

struct CommandLine {
  std::string command;
  std::string config_path;
  std::string second_path;  // uoe plan: the cluster description (optional)
  std::vector<std::string> overrides;
};

// Throws InputError with the usage text on malformed arguments. `--help` sets command "help".
CommandLine parse_command_line(int argc, char** argv);
std::string usage_text();

}  // namespace uoe
