#pragma once
// Shared by the libFuzzer targets: the code under test may reject an input only with InputError
// (a one-line message for the user, exit code 2). Any other exception is a finding: it is printed
// with its type and the process aborts, which libFuzzer records as a crash with the input.
// UOE_FUZZ_VERBOSE=1 prints each rejection (to see how deep the seeds get:
// `UOE_FUZZ_VERBOSE=1 <target> -runs=0 fuzz/corpus/<target>`).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <typeinfo>

#include "common/check.h"

namespace uoe::fuzz {

template <typename F>
void accept_only_input_errors(F&& body) {
  try {
    body();
  } catch (const InputError& e) {
    static const bool verbose = std::getenv("UOE_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "uoe fuzz: rejected: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uoe fuzz: %s escaped: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "uoe fuzz: a non-std exception escaped\n");
    std::abort();
  }
}

// The input bytes as text.
inline std::string as_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// One scratch file per fuzzing process, for loaders that read files; removed at exit. In memory
// (/dev/shm) unless TMPDIR is set: rewriting a file on ext4 flushes it to disk on every close.
class ScratchFile {
 public:
  ScratchFile() {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (tmpdir && *tmpdir) dir = tmpdir;
    path_ = dir + "/uoe_fuzz_XXXXXX";
    const int fd = mkstemp(path_.data());
    if (fd < 0) {
      std::perror("uoe fuzz: mkstemp");
      std::abort();
    }
    close(fd);
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's contents with `bytes` and returns its path.
  const std::string& write(const std::string& bytes) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace uoe::fuzz
