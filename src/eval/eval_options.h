#pragma once
// `eval:` and `tofu:` options of the run config (config/run_config.h).
#include <cstdint>
#include <string>

namespace uoe {

struct EvalConfig {
  int64_t batch_size = 16;
  int64_t max_new_tokens = 4;  // greedy generation budget for ROUGE-L
  // Per-item multiple-choice results as JSONL (like lm-eval's --log_samples):
  // <output_dir>/samples_<set>.jsonl for `uoe eval` and `uoe pretrain`,
  // samples_{before,after}_<set>.jsonl for `uoe unlearn` (set: forget_mc | retain_mc).
  bool log_samples = false;
};

// `tofu:` the TOFU metrics (eval/tofu_eval.h) of `uoe eval` and, after training, `uoe unlearn`.
// Each set is three token datasets of the same questions: the answers, the paraphrased answers,
// and the perturbed answers (K per question, in question order).
struct TofuConfig {
  std::string tokenizer;  // tokenizer.json or its directory: decodes greedy answers for ROUGE-L
  std::string forget_answer, forget_paraphrased, forget_perturbed;
  std::string retain_answer, retain_paraphrased, retain_perturbed;
  std::string reference;        // optional: the retain model's tofu.json, for forget quality
  int64_t max_new_tokens = 64;  // greedy answer budget (stops early at eos)
  int64_t rouge_questions = 0;  // ROUGE-L on the first N questions of each set only; 0: all
  bool enabled() const { return !forget_answer.empty(); }
};

}  // namespace uoe
