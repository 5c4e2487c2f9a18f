#pragma once
// A child process driven line by line over its stdin/stdout (its stderr is inherited), so that a
// benchmark can interleave a reference implementation in another language with its own steps.
#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace uoe::bench {

class CoProcess {
 public:
  // Starts argv[0] (searched on PATH) with the arguments argv[1..].
  explicit CoProcess(const std::vector<std::string>& argv);
  ~CoProcess();
  CoProcess(const CoProcess&) = delete;
  CoProcess& operator=(const CoProcess&) = delete;

  void send_line(const std::string& line);
  // The next line without its newline; throws InternalError when the child has closed stdout.
  std::string read_line();
  // Closes the child's stdin and waits for it; returns its exit code (128 + signal if killed).
  int finish();

 private:
  std::string name_;
  pid_t pid_ = -1;
  FILE* to_child_ = nullptr;
  FILE* from_child_ = nullptr;
};

}  // namespace uoe::bench
