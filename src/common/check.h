#pragma once
// Error checks. UOE_CHECK guards user input (config keys, files, data, arguments) and throws
// InputError, which the top level turns into exit code 2. UOE_ASSERT guards internal invariants and
// throws InternalError (exit code 1). Messages are built with uoe::str from all arguments.
// Torch-free: operator<< of torch types is found by argument-dependent lookup where they are used.
#include <sstream>
#include <stdexcept>
#include <string>

namespace uoe {

// Bad input the user can fix: exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken invariant inside uoe: exit code 1.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A failure that every rank detects at the same point from globally reduced values (for example a
// non-finite loss): rank 0 reports it and every rank exits with `code` without aborting the job.
class CollectiveError : public std::runtime_error {
 public:
  CollectiveError(const std::string& message, int code) : std::runtime_error(message), code(code) {}
  int code;
};

// Concatenates the arguments as an std::ostream prints them (as c10::str does).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

[[noreturn]] void throw_internal_error(const char* file, int line, const char* cond,
                                       const std::string& message);

}  // namespace uoe

#define UOE_CHECK(cond, ...)                                       \
  do {                                                             \
    if (!(cond)) throw ::uoe::InputError(::uoe::str(__VA_ARGS__)); \
  } while (0)

#define UOE_ASSERT(cond, ...)                                                                     \
  do {                                                                                            \
    if (!(cond)) ::uoe::throw_internal_error(__FILE__, __LINE__, #cond, ::uoe::str(__VA_ARGS__)); \
  } while (0)
