#include "tokenizer/added_vocabulary.h"

#include "tokenizer/text_normalizer.h"
#include "tokenizer/unicode_properties.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

// Start of the code point that ends at byte `end` of valid UTF-8 `text`.
size_t previous_boundary(std::string_view text, size_t end) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  return begin;
}
char32_t code_point_before(std::string_view text, size_t end) {
  const size_t begin = previous_boundary(text, end);
  return decode_utf8(text.substr(begin, end - begin)).front();
}
char32_t code_point_at(std::string_view text, size_t begin) {
  return decode_utf8(text.substr(begin, utf8_length(static_cast<unsigned char>(text[begin]))))
      .front();
}

}  // namespace

void AddedVocabulary::Trie::insert(const std::string& text, int32_t token) {
  int32_t node = 0;
  for (unsigned char c : text) {
    int32_t child = -1;
    for (const auto& [byte, index] : nodes[node].children) {
      if (byte == c) child = index;
    }
    if (child < 0) {
      child = int32_t(nodes.size());
      nodes[node].children.emplace_back(c, child);
      nodes.emplace_back();
    }
    node = child;
  }
  nodes[node].token = token;
  first_byte[static_cast<unsigned char>(text[0])] = true;
}

int32_t AddedVocabulary::Trie::longest(std::string_view text, size_t pos, size_t& length) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    int32_t child = -1;
    for (const auto& [byte, index] : nodes[node].children) {
      if (byte == static_cast<unsigned char>(text[i])) child = index;
    }
    if (child < 0) break;
    node = child;
    if (nodes[node].token >= 0) {
      best = nodes[node].token;
      length = i + 1 - pos;
    }
  }
  return best;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const TextNormalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    by_id_[t.id] = i;
    by_content_[t.content] = i;
    const bool normalized = t.normalized && normalizer != nullptr;
    match_forms_.push_back(normalized ? normalizer->normalize(t.content) : t.content);
    if (!match_forms_.back().empty()) {
      (t.normalized ? normalized_trie_ : raw_trie_).insert(match_forms_.back(), int32_t(i));
    }
  }
}

void AddedVocabulary::split(const TextSegment& segment, bool normalized_tokens,
                            std::vector<TextSegment>& out) const {
  const Trie& trie = normalized_tokens ? normalized_trie_ : raw_trie_;
  const std::string_view text = segment.text;
  auto emit_text = [&](size_t begin, size_t end) {
    if (end > begin) {
      out.push_back(
          {std::string(text.substr(begin, end - begin)), -1, segment.at_origin && begin == 0});
    }
  };
  size_t done = 0;  // end of the last emitted piece
  for (size_t pos = 0; pos < text.size();) {
    size_t length = 0;
    const int32_t index = trie.first_byte[static_cast<unsigned char>(text[pos])]
                              ? trie.longest(text, pos, length)
                              : -1;
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos, stop = pos + length;
    pos = stop;  // matches never overlap, even when this one is discarded
    if (token.single_word) {
      const bool word_before = start > 0 && is_word_char(code_point_before(text, start));
      const bool word_after = stop < text.size() && is_word_char(code_point_at(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      while (start > done && is_white_space(code_point_before(text, start))) {
        start = previous_boundary(text, start);
      }
    }
    if (token.rstrip) {
      while (stop < text.size() && is_white_space(code_point_at(text, stop))) {
        stop += utf8_length(static_cast<unsigned char>(text[stop]));
      }
      pos = stop;
    }
    emit_text(done, start);
    out.push_back({std::string(text.substr(start, stop - start)), token.id, false});
    done = stop;
  }
  emit_text(done, text.size());
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(const std::string& content) const {
  const auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const std::string& AddedVocabulary::decode_form(int32_t id) const {
  return match_forms_[by_id_.at(id)];
}

int64_t AddedVocabulary::max_id() const {
  int64_t max = -1;
  for (const auto& t : tokens_) max = std::max<int64_t>(max, t.id);
  return max;
}

}  // namespace uoe
