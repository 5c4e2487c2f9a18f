#include "data/text_corpus.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/files.h"
#include "common/log.h"
#include "data/token_dataset.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

constexpr int64_t kProgressEvery = 10000;  // records between progress lines

std::string substitute(std::string text, const std::string& placeholder, const std::string& value) {
  for (size_t pos = text.find(placeholder); pos != std::string::npos;
       pos = text.find(placeholder, pos + value.size())) {
    text.replace(pos, placeholder.size(), value);
  }
  return text;
}

// The string under `key` of a JSON-lines record; InputError naming file and line otherwise.
std::string string_field(const nlohmann::json& record, const std::string& key,
                         const std::string& where) {
  UOE_CHECK(record.is_object(), where, ": expected a JSON object, got ", record.type_name());
  const auto it = record.find(key);
  UOE_CHECK(it != record.end(), where, ": missing key \"", key, "\"");
  UOE_CHECK(it->is_string(), where, ": \"", key, "\" must be a string, got ", it->type_name());
  return it->get<std::string>();
}

// A QA answer: a string, or a non-empty array of strings (one sequence each, e.g. TOFU's
// perturbed_answer).
std::vector<std::string> answer_fields(const nlohmann::json& record, const std::string& key,
                                       const std::string& where) {
  const auto it = record.find(key);
  if (it == record.end() || !it->is_array()) return {string_field(record, key, where)};
  UOE_CHECK(!it->empty(), where, ": \"", key, "\" is an empty array");
  std::vector<std::string> answers;
  for (const auto& answer : *it) {
    UOE_CHECK(answer.is_string(), where, ": \"", key, "\" must hold strings, got ",
              answer.type_name());
    answers.push_back(answer.get<std::string>());
  }
  return answers;
}

class CorpusWriter {
 public:
  CorpusWriter(const TokenizeOptions& options, const HfTokenizer& tokenizer)
      : options_(options), tokenizer_(tokenizer) {
    if (options.add_special_tokens) {
      prefix_length_ = tokenizer.special_prefix().size();
      suffix_length_ = tokenizer.special_suffix().size();
    }
    if (options.add_eos) {
      const auto eos = tokenizer.eos_id();
      UOE_CHECK(eos.has_value(), "tokenize.add_eos: tokenizer '", tokenizer.name(),
                "' has no eos_token (tokenizer_config.json next to tokenizer.json names it)");
      eos_ = *eos;
    }
  }

  // A document: prefix + text + eos, cut into chunks of max_length.
  void add_document(const std::string& text) {
    const std::vector<int32_t> ids = encode_with_specials(text);
    const int64_t limit = options_.max_length > 0 ? options_.max_length : int64_t(ids.size());
    for (size_t begin = 0; begin < ids.size(); begin += size_t(limit)) {
      const size_t end = std::min(ids.size(), begin + size_t(limit));
      TokenSequence sequence;
      sequence.tokens.assign(ids.begin() + begin, ids.begin() + end);
      sequence.loss_mask.assign(sequence.tokens.size(), 1);
      add(std::move(sequence));
    }
  }

  // A QA pair: loss on the answer tokens (and eos) only.
  void add_qa(const std::string& prompt, const std::string& answer, const std::string& where) {
    const std::vector<int32_t> prompt_ids = tokenizer_.encode(prompt, false);
    const std::vector<int32_t> ids = encode_with_specials(prompt + answer);
    // The answer starts at the first token that differs from the prompt's own encoding.
    size_t answer_start = prefix_length_;
    while (answer_start < ids.size() && answer_start - prefix_length_ < prompt_ids.size() &&
           ids[answer_start] == prompt_ids[answer_start - prefix_length_]) {
      ++answer_start;
    }
    // Scored: the answer and the eos of add_eos, not the template's suffix tokens between them.
    const size_t scored_end = ids.size() - (options_.add_eos ? 1 : 0) - suffix_length_;
    UOE_CHECK(answer_start < scored_end, where, ": the answer has no tokens of its own");
    TokenSequence sequence;
    sequence.tokens = ids;
    sequence.loss_mask.assign(ids.size(), 0);
    for (size_t i = answer_start; i < scored_end; ++i) sequence.loss_mask[i] = 1;
    if (options_.add_eos) sequence.loss_mask.back() = 1;
    if (options_.max_length > 0 && int64_t(ids.size()) > options_.max_length) {
      UOE_CHECK(int64_t(answer_start) < options_.max_length, where, ": the prompt alone has ",
                answer_start, " tokens, tokenize.max_length=", options_.max_length,
                " leaves no answer token");
      sequence.tokens.resize(size_t(options_.max_length));
      sequence.loss_mask.resize(size_t(options_.max_length));
      ++truncated_;
    }
    add(std::move(sequence));
  }

  std::vector<TokenSequence>& sequences() { return sequences_; }
  int64_t num_tokens() const { return num_tokens_; }
  int64_t truncated() const { return truncated_; }

 private:
  std::vector<int32_t> encode_with_specials(const std::string& text) const {
    std::vector<int32_t> ids = tokenizer_.encode(text, options_.add_special_tokens);
    if (options_.add_eos) ids.push_back(eos_);
    return ids;
  }
  void add(TokenSequence sequence) {
    if (sequence.tokens.empty()) return;
    num_tokens_ += int64_t(sequence.tokens.size());
    sequences_.push_back(std::move(sequence));
  }

  const TokenizeOptions& options_;
  const HfTokenizer& tokenizer_;
  size_t prefix_length_ = 0, suffix_length_ = 0;  // the post-processor's tokens
  int32_t eos_ = -1;
  std::vector<TokenSequence> sequences_;
  int64_t num_tokens_ = 0;
  int64_t truncated_ = 0;
};

}  // namespace

void TokenizeOptions::validate() const {
  UOE_CHECK(!tokenizer.empty(),
            "tokenize.tokenizer is required (a tokenizer.json or its directory)");
  UOE_CHECK(!input.empty(), "tokenize.input is required (the text or JSON-lines file)");
  UOE_CHECK(path_exists(tokenizer), "tokenize.tokenizer '", tokenizer, "' does not exist");
  UOE_CHECK(is_file(input), "tokenize.input '", input, "' is not a readable file");
  UOE_CHECK(!output.empty(), "tokenize.output must not be empty");
  UOE_CHECK(format == "text" || format == "jsonl" || format == "qa",
            "tokenize.format must be text, jsonl or qa, got '", format, "'");
  UOE_CHECK(max_length >= 0, "tokenize.max_length must be >= 0 (0: no limit), got ", max_length);
  if (format == "qa") {
    UOE_CHECK(prompt_template.find("{question}") != std::string::npos,
              "tokenize.prompt_template must contain {question}, got '", prompt_template, "'");
    UOE_CHECK(answer_template.find("{answer}") != std::string::npos,
              "tokenize.answer_template must contain {answer}, got '", answer_template, "'");
  }
}

TokenizeSummary tokenize_corpus(const TokenizeOptions& options, const std::string& output_path) {
  options.validate();
  const HfTokenizer tokenizer = HfTokenizer::load(options.tokenizer);
  std::ifstream in(options.input, std::ios::binary);
  UOE_CHECK(in.good(), "cannot read tokenize.input '", options.input, "'");

  const auto start = std::chrono::steady_clock::now();
  CorpusWriter writer(options, tokenizer);
  TokenizeSummary summary;
  std::string line;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = c10::str(options.input, ":", line_number);
    if (options.format == "text") {
      const size_t invalid = find_invalid_utf8(line);
      UOE_CHECK(invalid == std::string::npos, where, ": not valid UTF-8 (byte ", invalid, ")");
      writer.add_document(line);
    } else {
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw InputError(c10::str(where, ": not a valid JSON line (", e.what(), ")"));
      }
      if (options.format == "jsonl") {
        writer.add_document(string_field(record, options.text_key, where));
      } else {
        const std::string question = string_field(record, options.question_key, where);
        const std::vector<std::string> answers = answer_fields(record, options.answer_key, where);
        if (summary.answers_per_record == 0) summary.answers_per_record = int64_t(answers.size());
        UOE_CHECK(int64_t(answers.size()) == summary.answers_per_record, where, ": \"",
                  options.answer_key, "\" has ", answers.size(), " answers, earlier records ",
                  summary.answers_per_record, " (every record needs the same number)");
        for (const std::string& answer : answers) {
          writer.add_qa(substitute(options.prompt_template, "{question}", question),
                        substitute(options.answer_template, "{answer}", answer), where);
        }
      }
    }
    if (++summary.num_records % kProgressEvery == 0) {
      log0("tokenize: ", summary.num_records, " records, ", writer.num_tokens(), " tokens");
    }
  }
  UOE_CHECK(!in.bad(), "failed reading tokenize.input '", options.input, "'");
  UOE_CHECK(!writer.sequences().empty(), "tokenize.input '", options.input, "' has no records");
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.output_path = output_path;
  summary.num_sequences = int64_t(writer.sequences().size());
  summary.num_tokens = writer.num_tokens();
  summary.num_truncated = writer.truncated();
  summary.vocab_size = tokenizer.vocab_size();
  // The output directory appears only now, so that bad input leaves nothing behind.
  const std::string parent = std::filesystem::path(output_path).parent_path().string();
  if (!parent.empty()) make_directories(parent, "tokenize.output directory");
  write_token_dataset(output_path, writer.sequences(), summary.vocab_size);
  return summary;
}

}  // namespace uoe
