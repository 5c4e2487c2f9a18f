#pragma once
// `uoe tokenize`: text corpora and question-answer sets tokenized with a Hugging Face
// tokenizer.json into the token dataset format of data/token_dataset.h.
//
// Input formats (`tokenize.format`):
//   text   one document per non-empty line
//   jsonl  one JSON object per non-empty line, the document under `text_key` ({"text": ...}
//          corpora such as the WMDP forget corpora); other keys are ignored
//   qa     one JSON object per line with `question_key` and `answer_key`; the sequence is
//          prompt_template + answer_template with {question} / {answer} substituted, encoded as
//          one text, and only the answer tokens are scored (loss_mask = 1 from the first token
//          that differs from the prompt's own encoding); an answer that is an array of strings
//          (TOFU's perturbed_answer) gives one sequence per element, in order, and every record
//          must have the same number, so record r's answers are sequences r*n .. r*n+n-1
// Special tokens: the tokenizer's post-processor (add_special_tokens, e.g. <s> first) and, with
// add_eos, the eos token of tokenizer_config.json after each document / answer (scored).
// max_length > 0 cuts documents into consecutive chunks of at most max_length tokens and
// truncates QA sequences (an answer with no token left is an error).
#include <cstdint>
#include <string>

namespace uoe {

struct TokenizeOptions {
  std::string tokenizer;  // tokenizer.json, or a directory with it (and tokenizer_config.json)
  std::string input;      // the text or JSON-lines file
  std::string output = "tokens.h5";  // relative paths are under output_dir
  std::string format = "jsonl";      // text | jsonl | qa
  std::string text_key = "text";
  std::string question_key = "question";
  std::string answer_key = "answer";
  std::string prompt_template = "Question: {question}\nAnswer:";
  std::string answer_template = " {answer}";
  bool add_special_tokens = true;
  bool add_eos = false;
  int64_t max_length = 0;  // 0: no limit

  // InputError naming tokenize.<key> (values, and that the tokenizer and input exist); only
  // `uoe tokenize` calls it.
  void validate() const;
};

struct TokenizeSummary {
  std::string output_path;
  int64_t num_records = 0;    // documents or QA pairs read
  int64_t num_sequences = 0;  // sequences written (chunks count separately)
  int64_t num_tokens = 0;
  int64_t num_truncated = 0;       // QA sequences cut to max_length
  int64_t answers_per_record = 0;  // qa format: sequences per record (1 unless answers are arrays)
  int64_t vocab_size = 0;
  double seconds = 0;  // tokenization time (reading and encoding, not writing)
};

// Tokenizes options.input into `output_path` (written atomically). InputError naming the file
// and line for unreadable input, malformed JSON lines and missing or non-string keys.
TokenizeSummary tokenize_corpus(const TokenizeOptions& options, const std::string& output_path);

}  // namespace uoe
