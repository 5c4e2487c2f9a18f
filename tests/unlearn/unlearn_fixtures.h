#pragma once
// Small models and datasets shared by the unlearning tests.
#include "data/token_dataset.h"
#include "model/causal_lm.h"
#include "test_models.h"

namespace uoe::test {

// `count` random QA-like sequences of 6-10 tokens; the last 2-3 tokens are scored answers.
TokenDataset random_qa_dataset(int64_t count, int64_t vocab_size, uint64_t seed);

}  // namespace uoe::test
