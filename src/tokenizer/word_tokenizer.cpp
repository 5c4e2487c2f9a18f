#include "tokenizer/word_tokenizer.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/files.h"

namespace uoe {
namespace {

const char* const kSpecialTokens[] = {"<pad>", "<bos>", "<eos>", "<unk>"};

bool has_whitespace(const std::string& word) {
  for (unsigned char c : word) {
    if (std::isspace(c)) return true;
  }
  return false;
}

}  // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  UOE_CHECK(tokens_.size() >= 4, "vocabulary must start with <pad>, <bos>, <eos>, <unk>, got ",
            tokens_.size(), " tokens");
  for (int32_t i = 0; i < 4; ++i) {
    UOE_CHECK(tokens_[i] == kSpecialTokens[i], "vocabulary token ", i, " must be ",
              kSpecialTokens[i], ", got '", tokens_[i], "'");
  }
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& word = tokens_[i];
    UOE_CHECK(!word.empty() && !has_whitespace(word), "vocabulary token ", i,
              " must be a non-empty word without whitespace, got '", word, "'");
    const bool inserted = ids_.emplace(word, static_cast<int32_t>(i)).second;
    UOE_CHECK(inserted, "vocabulary token '", word, "' appears twice (ids ", ids_.at(word), " and ",
              i, ")");
  }
}

WordTokenizer WordTokenizer::load(const std::string& path) {
  std::ifstream in(path);
  UOE_CHECK(in.good(), "cannot read vocabulary ", path, ": ", std::strerror(errno));
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, "vocabulary ", path, " is not valid JSON: ", e.what());
  }
  UOE_CHECK(root.is_object() && root.contains("tokens") && root["tokens"].is_array(), "vocabulary ",
            path, " must be an object with a \"tokens\" array");
  std::vector<std::string> tokens;
  for (const auto& token : root["tokens"]) {
    UOE_CHECK(token.is_string(), "vocabulary ", path, ": token ", tokens.size(),
              " is not a string");
    tokens.push_back(token.get<std::string>());
  }
  try {
    return WordTokenizer(std::move(tokens));
  } catch (const InputError& e) {
    throw InputError(str("vocabulary ", path, ": ", e.what()));
  }
}

void WordTokenizer::save(const std::string& path) const {
  write_json_atomic(path, nlohmann::json{{"tokens", tokens_}});
}

std::vector<int32_t> WordTokenizer::encode(const std::string& text) const {
  std::istringstream words(text);
  std::vector<int32_t> ids;
  std::string word;
  while (words >> word) ids.push_back(id(word));
  return ids;
}

std::string WordTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (int32_t id : ids) {
    const std::string& word = token(id);
    if (id == kPad || id == kBos || id == kEos) continue;
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

const std::string& WordTokenizer::token(int32_t id) const {
  UOE_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary of ",
            vocab_size(), " words");
  return tokens_[id];
}

int32_t WordTokenizer::id(const std::string& word) const {
  const auto it = ids_.find(word);
  return it == ids_.end() ? kUnk : it->second;
}

}  // namespace uoe
