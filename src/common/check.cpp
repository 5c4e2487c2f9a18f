#include "common/check.h"

namespace uoe {

void throw_internal_error(const char* file, int line, const char* cond,
                          const std::string& message) {
  throw InternalError(
      str("internal error at ", file, ":", line, ": ", cond, message.empty() ? "" : ": ", message));
}

}  // namespace uoe
