// Fuzzes the config loader: YAML text -> RunConfig (parse, overrides, validation), exactly as
// `uoe <command> <config.yaml> [overrides]` reads it. Input: the YAML file, optionally followed by
// a line "#--" and one "dotted.key=value" override per line (the separator is a YAML comment,
// so every input is also a plain config file).
#include <string>
#include <vector>

#include "config/run_config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = uoe::fuzz::as_text(data, size);
  const std::string separator = "\n#--\n";
  const size_t split = text.find(separator);
  std::vector<std::string> overrides;
  if (split != std::string::npos) {
    size_t start = split + separator.size();
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) overrides.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }
  static const uoe::fuzz::ScratchFile file;
  const std::string& path = file.write(text.substr(0, split));
  uoe::fuzz::accept_only_input_errors([&] { uoe::load_run_config(path, overrides); });
  return 0;
}
