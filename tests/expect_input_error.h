#pragma once
// expect_input_error for uoe tests; free of torch and MPI (the tokenizer tests use it alone).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/check.h"

namespace uoe::test {

// Runs `body` and expects an InputError whose message contains every part.
template <typename F>
void expect_input_error(F&& body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected an InputError mentioning '" << parts.front() << "'";
  } catch (const InputError& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

}  // namespace uoe::test
