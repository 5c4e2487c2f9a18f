#include "co_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"

namespace uoe::bench {

CoProcess::CoProcess(const std::vector<std::string>& argv) : name_(argv.at(0)) {
  int to_child[2], from_child[2];
  UOE_ASSERT(::pipe(to_child) == 0 && ::pipe(from_child) == 0, "pipe: ", std::strerror(errno));
  std::fflush(nullptr);  // nothing buffered may be written twice
  pid_ = ::fork();
  UOE_ASSERT(pid_ >= 0, "fork: ", std::strerror(errno));
  if (pid_ == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot start %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  to_child_ = ::fdopen(to_child[1], "w");
  from_child_ = ::fdopen(from_child[0], "r");
}

CoProcess::~CoProcess() {
  if (pid_ > 0) finish();
}

void CoProcess::send_line(const std::string& line) {
  UOE_ASSERT(to_child_ != nullptr, name_, " has finished");
  std::fputs((line + "\n").c_str(), to_child_);
  std::fflush(to_child_);
}

std::string CoProcess::read_line() {
  UOE_ASSERT(from_child_ != nullptr, name_, " has finished");
  std::string line;
  for (int c = std::fgetc(from_child_); c != '\n'; c = std::fgetc(from_child_)) {
    UOE_ASSERT(c != EOF, name_, " ended its output unexpectedly (see its messages above)");
    line.push_back(static_cast<char>(c));
  }
  return line;
}

int CoProcess::finish() {
  if (to_child_ != nullptr) std::fclose(to_child_);
  if (from_child_ != nullptr) std::fclose(from_child_);
  to_child_ = from_child_ = nullptr;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace uoe::bench
