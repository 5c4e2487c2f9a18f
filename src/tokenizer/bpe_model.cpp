#include "tokenizer/bpe_model.h"

#include <queue>

#include "common/check.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

constexpr int64_t kMaxTokenId = int64_t(1) << 24;

std::string byte_token(int b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

}  // namespace

BpeModel::BpeModel(const Json& spec, const std::string& context) {
  const std::string type = json_type(spec, context);
  if (type != "BPE") throw_unsupported(context, "model type", type, {"BPE"});
  const Json& dropout = spec.contains("dropout") ? spec["dropout"] : Json();
  UOE_CHECK(dropout.is_null() || (dropout.is_number() && dropout.get<double>() == 0.0), context,
            ": BPE dropout ", dropout.dump(), " is not supported (only null or 0)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const bool unset = !spec.contains(key) || spec[key].is_null() ||
                       (spec[key].is_string() && spec[key].get<std::string>().empty());
    UOE_CHECK(unset, context, ": BPE \"", key, "\" is not supported (only null)");
  }
  byte_fallback_ = json_bool(spec, "byte_fallback", false, context);
  fuse_unk_ = json_bool(spec, "fuse_unk", false, context);
  ignore_merges_ = json_bool(spec, "ignore_merges", false, context);

  const Json& vocab = json_member(spec, "vocab", context);
  UOE_CHECK(vocab.is_object(), context, ": \"vocab\" must be an object {token: id}, got ",
            vocab.type_name());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    UOE_CHECK(it.value().is_number_integer(), context, ": vocab id of '", it.key(),
              "' must be an integer, got ", it.value().dump());
    const int64_t id = it.value().get<int64_t>();
    UOE_CHECK(id >= 0 && id < kMaxTokenId, context, ": vocab id ", id, " of '", it.key(),
              "' is outside [0, ", kMaxTokenId, ")");
    max_id = std::max(max_id, id);
  }
  tokens_.resize(size_t(max_id + 1));
  has_token_.assign(size_t(max_id + 1), false);
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = it.value().get<int32_t>();
    UOE_CHECK(!has_token_[id], context, ": vocab id ", id, " is used by both '", tokens_[id],
              "' and '", it.key(), "'");
    UOE_CHECK(find_invalid_utf8(it.key()) == std::string::npos, context, ": vocab token with id ",
              id, " is not valid UTF-8");
    has_token_[id] = true;
    tokens_[id] = it.key();
    vocab_.emplace(it.key(), id);
    const std::vector<char32_t> cps = decode_utf8(it.key());
    if (cps.size() == 1) char_ids_[cps[0]] = id;
  }
  for (int b = 0; b < 256; ++b) {
    const auto found = vocab_.find(byte_token(b));
    byte_ids_[b] = found == vocab_.end() ? -1 : found->second;
  }
  if (spec.contains("unk_token") && !spec["unk_token"].is_null()) {
    const std::string unk = json_string(spec, "unk_token", context);
    const auto found = vocab_.find(unk);
    UOE_CHECK(found != vocab_.end(), context, ": unk_token '", unk, "' is not in the vocab");
    unk_id_ = found->second;
  }

  const Json& merges = json_array(spec, "merges", context);
  merges_.reserve(merges.size());
  auto lookup = [&](const std::string& token, size_t rank) {
    const auto found = vocab_.find(token);
    UOE_CHECK(found != vocab_.end(), context, ": merge ", rank, " references '", token,
              "', which is not in the vocab");
    return found->second;
  };
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& m = merges[rank];
    std::string a, b;
    if (m.is_string()) {
      const std::string line = m.get<std::string>();
      const size_t space = line.find(' ');
      UOE_CHECK(space != std::string::npos && line.find(' ', space + 1) == std::string::npos,
                context, ": merge ", rank, " '", line,
                "' must be two tokens separated by one space");
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else {
      UOE_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), context,
                ": merge ", rank, " must be \"a b\" or [\"a\", \"b\"], got ", m.dump());
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    const int32_t left = lookup(a, rank);
    const int32_t right = lookup(b, rank);
    merges_[pair_key(left, right)] = Merge{int32_t(rank), lookup(a + b, rank)};
  }
}

std::optional<int32_t> BpeModel::token_to_id(const std::string& token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= int32_t(tokens_.size()) || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(std::string(piece));
    if (it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  if (piece.size() >= kMaxCachedPiece) {
    merge(piece, ids);
    return;
  }
  const std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> piece_ids;
  merge(piece, piece_ids);
  ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() < kCacheCapacity) cache_.emplace(key, std::move(piece_ids));
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto add = [&](int32_t id) {
    const int32_t index = int32_t(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0) symbols[index - 1].next = index;
  };
  // Initial symbols: one per character, else its <0xXX> byte tokens, else the unknown token
  // (consecutive unknowns fused when fuse_unk). As in HF, a pending unknown is only emitted
  // before the next known character or at the end.
  bool pending_unk = false;
  const std::vector<char32_t> cps = decode_utf8(piece);
  size_t byte_pos = 0;
  for (char32_t cp : cps) {
    const size_t len = utf8_length(static_cast<unsigned char>(piece[byte_pos]));
    const std::string_view bytes = piece.substr(byte_pos, len);
    byte_pos += len;
    const auto found = char_ids_.find(cp);
    if (found != char_ids_.end()) {
      if (pending_unk) add(*unk_id_);
      pending_unk = false;
      add(found->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : bytes) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : bytes) add(byte_ids_[b]);
        continue;
      }
    }
    if (!unk_id_) continue;  // no unknown token: the character is dropped, as in HF
    if (pending_unk && !fuse_unk_) add(*unk_id_);
    pending_unk = true;
  }
  if (pending_unk) add(*unk_id_);

  struct Candidate {
    int32_t rank, pos, merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    const auto it = merges_.find(pair_key(symbols[pos].id, symbols[symbols[pos].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.merged_id});
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    const auto it = merges_.find(pair_key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;  // stale entry
    Symbol& right = symbols[left.next];
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
}

}  // namespace uoe
