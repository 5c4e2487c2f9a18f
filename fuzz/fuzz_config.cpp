// Fuzzes the config loader: YAML text -> RunConfig (parse, overrides, validation), exactly as
// `uoe <command> <config.yaml> [overrides]` reads it. Input: the YAML file, optionally followed by
// a line "#--" and one "dotted.key=value" override per line (the separator is a YAML comment,
// so every input is also a plain config file).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "io/run_config.h"

namespace {

// One scratch file per fuzzing process, removed at exit; in memory (/dev/shm) unless TMPDIR is set,
// since rewriting a file on ext4 flushes it to disk on every close.
struct ScratchFile {
  std::string path;
  ScratchFile() {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (tmpdir && *tmpdir) dir = tmpdir;
    path = dir + "/uoe_fuzz_config_XXXXXX";
    const int fd = mkstemp(path.data());
    if (fd < 0) {
      std::perror("uoe fuzz: mkstemp");
      std::abort();
    }
    close(fd);
  }
  ~ScratchFile() { std::remove(path.c_str()); }
};

const std::string& scratch_path() {
  static const ScratchFile file;
  return file.path;
}

}  // namespace

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
  const std::string yaml = text.substr(0, split);
  std::ofstream(scratch_path(), std::ios::binary | std::ios::trunc) << yaml;
  uoe::fuzz::accept_only_input_errors([&] { uoe::load_run_config(scratch_path(), overrides); });
  return 0;
}
