#include "app/cli.h"

#include <algorithm>

#include "common/check.h"

namespace uoe {
namespace {
const std::vector<std::string> kCommands = {
    "make-data", "tokenize", "pretrain", "attribute", "unlearn", "eval", "info", "export", "plan"};
}

std::string usage_text() {
  return "usage: uoe <command> <config.yaml> [dotted.key=value ...]\n"
         "commands:\n"
         "  make-data  write the built-in fictitious-knowledge dataset to output_dir\n"
         "  tokenize   tokenize tokenize.input (text, JSONL or QA) with an HF tokenizer.json\n"
         "  pretrain   train the model in the config (from scratch or a checkpoint) with AdamW\n"
         "  attribute  expert attribution on dataset.forget; prints and saves attribution.h5\n"
         "  unlearn    attribute, select, unlearn (SEUF or full), evaluate before and after\n"
         "  eval       evaluate the model (checkpoint + optional delta) on the dataset files\n"
         "  export     write model_name_or_path (HF directory) with the delta's tensors as an HF\n"
         "             directory to export.output_dir (original shards, names and dtypes;\n"
         "             the rounding to those dtypes in export_report.json; any number of ranks)\n"
         "  info       print the resolved config, layout and parameter counts; also takes an HF\n"
         "             config.json or model directory (architecture and counts, nothing loaded)\n"
         "  plan       uoe plan <config.json | HF dir> [cluster.yaml] [key=value ...]: predicted\n"
         "             memory and step time per GPU of SEUF and full unlearning over EP x DP\n"
         "             layouts, and the smallest layout that fits (configs/clusters/*.yaml;\n"
         "             keys: benchmarks/scaling/PLANNER.md; detail=true lists every layout,\n"
         "             output=plan.json writes them as JSON)\n"
         "example:\n"
         "  mpirun -np 2 build/uoe pretrain configs/tiny/pretrain.yaml max_steps=50 "
         "parallel.ep_size=2";
}

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    cli.command = "help";
    return cli;
  }
  cli.command = args[0];
  UOE_CHECK(std::find(kCommands.begin(), kCommands.end(), cli.command) != kCommands.end(),
            "unknown command '", cli.command, "' (see uoe --help)");
  UOE_CHECK(args.size() >= 2, "missing <config.yaml> after '", cli.command, "' (see uoe --help)");
  cli.config_path = args[1];
  size_t first_override = 2;
  if (cli.command == "plan" && args.size() > 2 && args[2].find('=') == std::string::npos) {
    cli.second_path = args[2];
    first_override = 3;
  }
  for (size_t i = first_override; i < args.size(); ++i) {
    UOE_CHECK(args[i].find('=') != std::string::npos, "unexpected argument '", args[i],
              "': overrides look like dotted.key=value (see uoe --help)");
    cli.overrides.push_back(args[i]);
  }
  return cli;
}

}  // namespace uoe
