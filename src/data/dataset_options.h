#pragma once
// `dataset:` options of the run config (config/run_config.h).
#include <string>

namespace uoe {

// `dataset:` files. Token datasets are HDF5 (data/token_dataset.h); MC probes are JSONL
// {"question", "choices", "answer"} scored like lm-eval (eval/multiple_choice.h) with the
// tokenizer in `tokenizer`.
struct DatasetConfig {
  std::string train;      // pretraining corpus; empty: the synthetic corpus of `data:`
  std::string forget;     // forget set (QA, loss on answers)
  std::string retain;     // retain set
  std::string forget_mc;  // multiple-choice probes over the forget facts
  std::string retain_mc;
  std::string tokenizer;  // the model's tokenizer.json (or its directory), or the vocab.json of the
                          // built-in data's word tokenizer; needed for MC probes
};

}  // namespace uoe
