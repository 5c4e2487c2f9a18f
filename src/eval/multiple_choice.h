#pragma once
// Multiple-choice probes scored like lm-evaluation-harness (0.4.13) scores a zero-shot
// `output_type: multiple_choice` task on an HF causal LM (HFLM), metric `acc`:
//   - the task's template is doc_to_text "{{question}}", doc_to_choice "{{choices}}",
//     doc_to_target "{{answer}}", target_delimiter " ": one loglikelihood request
//     (context = question, continuation = " " + choice) per choice;
//   - tokenization is HFLM._encode_pair: trailing whitespace of the context moves to the
//     continuation; whole = encode(context + continuation), ctx = encode(context) (both with the
//     tokenizer's default special tokens, none when the text already starts with the prefix
//     token's text), continuation ids = whole[len(ctx):]; an empty context becomes the prefix
//     token (bos, else eos) before encode(continuation) without special tokens;
//   - the score of a choice is the sum of log p over its continuation ids given everything before;
//     the chosen answer is the first choice with the highest score (numpy argmax).
// The question of an item is the whole prompt: to reproduce a task with another template, write
// the rendered prompt into "question" and the rendered choices into "choices".
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "parallel/process_groups.h"
#include "tokenizer/text_tokenizer.h"

namespace uoe {

struct McItem {
  std::string question;
  std::vector<std::string> choices;
  int64_t answer = 0;
};

// Reads {"question", "choices", "answer"} lines; InputError naming file and line on bad input.
std::vector<McItem> load_mc_jsonl(const std::string& path);

// The token ids of one loglikelihood request.
struct McRequest {
  std::vector<int32_t> context;
  std::vector<int32_t> continuation;  // the scored ids
};

// HFLM's tokenization of (context, continuation) (see above). InputError when either side comes
// out empty.
McRequest encode_mc_request(const TextTokenizer& tokenizer, const std::string& context,
                            const std::string& continuation);

// A probe file with every (item, choice) request tokenized.
struct McSet {
  std::string path;
  std::vector<McItem> items;
  std::vector<std::vector<McRequest>> requests;  // [item][choice]
  int64_t vocab_size = 0;                        // the tokenizer's

  // Loads `path` and tokenizes it. InputError naming `tokenizer_key` and its file when the
  // tokenizer does not fit the model: more ids than `model_vocab_size` embedding rows, or most
  // probe tokens unknown (a word vocabulary on the text of another model's data).
  static McSet load(const std::string& path, const TextTokenizer& tokenizer,
                    const std::string& tokenizer_key, int64_t model_vocab_size);
};

struct McScores {
  std::vector<std::vector<double>> loglikelihoods;  // [item][choice]
  std::vector<int64_t> chosen;                      // [item]
  double accuracy = 0;
};

// Collective over the world; every rank gets every score.
McScores score_mc(CausalLM& model, const McSet& set, const ProcessGroups& groups,
                  int64_t batch_size);

// {"items", "accuracy"}.
nlohmann::json mc_summary(const McSet& set, const McScores& scores);

// One JSON line per item (like lm-eval's --log_samples): doc_id, prompt, continuations (as
// scored), answer, loglikelihoods, continuation_tokens, chosen, correct. Written atomically.
void write_mc_samples(const std::string& path, const McSet& set, const McScores& scores);

}  // namespace uoe
