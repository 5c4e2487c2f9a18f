#include "common/check.h"

namespace uoe {

void throw_internal_error(const char* file, int line, const char* cond,
                          const std::string& message) {
  throw InternalError(c10::str("internal error at ", file, ":", line, ": ", cond,
                               message.empty() ? "" : ": ", message));
}

}  // namespace uoe
