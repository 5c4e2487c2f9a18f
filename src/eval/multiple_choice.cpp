#include "eval/multiple_choice.h"

#include <algorithm>
#include <fstream>

#include "common/check.h"
#include "common/files.h"
#include "data/token_dataset.h"
#include "eval/evaluation.h"
#include "tokenizer/unicode_properties.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

// Python's str.isspace: White_Space plus the separators U+001C..U+001F.
bool is_python_space(char32_t cp) { return is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

// Byte offset where the trailing whitespace of `text` (as str.rstrip() removes it) begins.
size_t trailing_space_start(const std::string& text) {
  std::vector<uint32_t> offsets;
  const std::vector<char32_t> cps = decode_utf8(text, &offsets);
  size_t n = cps.size();
  while (n > 0 && is_python_space(cps[n - 1])) --n;
  return offsets[n];
}

// HFLM.tok_encode with add_special_tokens=None: the tokenizer's default special tokens, unless
// the text already starts with the prefix token's text (lm_eval.models.utils.has_bos_prefix).
std::vector<int32_t> encode_default(const TextTokenizer& tokenizer, const std::string& text,
                                    const std::optional<std::string>& prefix_text) {
  const bool has_prefix = prefix_text && text.compare(0, prefix_text->size(), *prefix_text) == 0;
  return tokenizer.encode(text, /*add_special_tokens=*/!has_prefix);
}

}  // namespace

std::vector<McItem> load_mc_jsonl(const std::string& path) {
  std::ifstream in(path);
  UOE_CHECK(in.good(), "cannot read multiple-choice file '", path, "'");
  std::vector<McItem> items;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto j = nlohmann::json::parse(line);
      McItem item{j.at("question").get<std::string>(),
                  j.at("choices").get<std::vector<std::string>>(), j.at("answer").get<int64_t>()};
      UOE_CHECK(item.choices.size() >= 2 && item.answer >= 0 &&
                    item.answer < int64_t(item.choices.size()),
                "'", path, "' line ", number, ": needs >= 2 choices and 0 <= answer < #choices");
      items.push_back(std::move(item));
    } catch (const nlohmann::json::exception& e) {
      UOE_CHECK(false, "'", path, "' line ", number, ": ", e.what());
    }
  }
  UOE_CHECK(!items.empty(), "multiple-choice file '", path, "' has no items");
  return items;
}

McRequest encode_mc_request(const TextTokenizer& tokenizer, const std::string& context,
                            const std::string& continuation) {
  const std::optional<int32_t> prefix =
      tokenizer.bos_id() ? tokenizer.bos_id() : tokenizer.eos_id();
  std::optional<std::string> prefix_text;
  if (prefix) prefix_text = tokenizer.token_text(*prefix);
  McRequest request;
  if (context.empty()) {
    request.continuation = tokenizer.encode(continuation, /*add_special_tokens=*/false);
    UOE_CHECK(prefix, "tokenizer '", tokenizer.path(), "' has neither a bos nor an eos token to ",
              "stand for an empty question");
    if (!request.continuation.empty() && request.continuation.front() == *prefix) {
      request.context.push_back(request.continuation.front());
      request.continuation.erase(request.continuation.begin());
    } else {
      request.context.push_back(*prefix);
    }
  } else {
    const size_t split = trailing_space_start(context);
    const std::vector<int32_t> whole =
        encode_default(tokenizer, context + continuation, prefix_text);
    request.context = encode_default(tokenizer, context.substr(0, split), prefix_text);
    if (request.context.size() < whole.size()) {
      request.continuation.assign(whole.begin() + request.context.size(), whole.end());
    }
  }
  UOE_CHECK(!request.context.empty() && !request.continuation.empty(), "multiple-choice request (",
            nlohmann::json(context).dump(), ", ", nlohmann::json(continuation).dump(), ") gives ",
            request.context.size(), " context and ", request.continuation.size(),
            " continuation tokens with tokenizer '", tokenizer.path(), "'; both must be non-empty");
  return request;
}

McSet McSet::load(const std::string& path, const TextTokenizer& tokenizer,
                  const std::string& tokenizer_key, int64_t model_vocab_size) {
  UOE_CHECK(tokenizer.vocab_size() <= model_vocab_size, tokenizer_key, " '", tokenizer.path(),
            "' has ", tokenizer.vocab_size(), " token ids but the model has ", model_vocab_size,
            " embedding rows: it is not the model's tokenizer");
  McSet set{path, load_mc_jsonl(path), {}, tokenizer.vocab_size()};
  int64_t tokens = 0, unknown = 0;
  for (const McItem& item : set.items) {
    auto& requests = set.requests.emplace_back();
    for (const std::string& choice : item.choices) {
      requests.push_back(encode_mc_request(tokenizer, item.question, " " + choice));
      for (const auto* ids : {&requests.back().context, &requests.back().continuation}) {
        tokens += int64_t(ids->size());
        if (tokenizer.unk_id())
          unknown += std::count(ids->begin(), ids->end(), *tokenizer.unk_id());
      }
    }
  }
  UOE_CHECK(2 * unknown <= tokens, tokenizer_key, " '", tokenizer.path(), "': ", unknown, " of ",
            tokens, " tokens of the multiple-choice probes '", path, "' are unknown; ",
            tokenizer.is_word_vocabulary()
                ? "a word vocabulary only fits the built-in data: give the model's tokenizer.json"
                : "give the model's own tokenizer.json");
  return set;
}

McScores score_mc(CausalLM& model, const McSet& set, const ProcessGroups& groups,
                  int64_t batch_size) {
  const int64_t max_positions = model->config().max_position_embeddings;
  std::vector<TokenSequence> sequences;
  for (const auto& requests : set.requests) {
    for (const McRequest& r : requests) {
      TokenSequence s;
      s.tokens = r.context;
      s.tokens.insert(s.tokens.end(), r.continuation.begin(), r.continuation.end());
      s.loss_mask.assign(r.context.size(), 0);
      s.loss_mask.resize(s.tokens.size(), 1);
      // The model reads every token but the last.
      UOE_CHECK(int64_t(s.tokens.size()) - 1 <= max_positions, "multiple-choice file '", set.path,
                "' item ", sequences.size(), ": ", s.tokens.size() - 1,
                " input tokens exceed model.max_position_embeddings=", max_positions);
      sequences.push_back(std::move(s));
    }
  }
  TokenDataset data(std::move(sequences), set.vocab_size, set.path);
  const torch::Tensor logp =
      answer_log_probs(model, data, groups, batch_size);  // [items x choices]
  McScores scores;
  int64_t next = 0, correct = 0;
  for (size_t i = 0; i < set.items.size(); ++i) {
    auto& lls = scores.loglikelihoods.emplace_back();
    int64_t best = 0;
    for (size_t c = 0; c < set.items[i].choices.size(); ++c) {
      lls.push_back(logp[next++].item<double>());
      if (lls[c] > lls[best]) best = int64_t(c);
    }
    scores.chosen.push_back(best);
    correct += best == set.items[i].answer ? 1 : 0;
  }
  scores.accuracy = double(correct) / double(set.items.size());
  return scores;
}

nlohmann::json mc_summary(const McSet& set, const McScores& scores) {
  return {{"items", int64_t(set.items.size())}, {"accuracy", scores.accuracy}};
}

void write_mc_samples(const std::string& path, const McSet& set, const McScores& scores) {
  std::string text;
  for (size_t i = 0; i < set.items.size(); ++i) {
    const McItem& item = set.items[i];
    nlohmann::json continuations = nlohmann::json::array(), lengths = nlohmann::json::array();
    for (size_t c = 0; c < item.choices.size(); ++c) {
      continuations.push_back(" " + item.choices[c]);
      lengths.push_back(set.requests[i][c].continuation.size());
    }
    const nlohmann::json line = {{"doc_id", i},
                                 {"prompt", item.question},
                                 {"continuations", continuations},
                                 {"answer", item.answer},
                                 {"loglikelihoods", scores.loglikelihoods[i]},
                                 {"continuation_tokens", lengths},
                                 {"chosen", scores.chosen[i]},
                                 {"correct", scores.chosen[i] == item.answer}};
    text += line.dump() + "\n";
  }
  write_text_atomic(path, text);
}

}  // namespace uoe
