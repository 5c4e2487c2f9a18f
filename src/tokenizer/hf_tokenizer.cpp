#include "tokenizer/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "common/files.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text_normalizer.h"
#include "tokenizer/token_decoder.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

constexpr int64_t kMaxAddedId = int64_t(1) << 24;

Json parse_json(const std::string& text, const std::string& name) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw InputError(str(name, ": not valid JSON (", e.what(), ")"));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  UOE_CHECK(in.good(), "cannot read tokenizer file '", path, "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<AddedToken> parse_added_tokens(const Json& root, const std::string& context) {
  std::vector<AddedToken> tokens;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return tokens;
  const Json& list = json_array(root, "added_tokens", context);
  std::unordered_map<int32_t, std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = str(context, ": added_tokens[", i, "]");
    AddedToken t;
    const int64_t id = json_int(list[i], "id", -1, where);
    UOE_CHECK(id >= 0 && id < kMaxAddedId, where, ": \"id\" must be an integer in [0, ",
              kMaxAddedId, "), got ", json_member(list[i], "id", where).dump());
    t.id = int32_t(id);
    t.content = json_string(list[i], "content", where);
    UOE_CHECK(!t.content.empty() && find_invalid_utf8(t.content) == std::string::npos, where,
              ": \"content\" must be non-empty UTF-8");
    UOE_CHECK(seen.emplace(t.id, t.content).second, where, ": id ", t.id, " is used by both '",
              seen[t.id], "' and '", t.content, "'");
    t.single_word = json_bool(list[i], "single_word", false, where);
    t.lstrip = json_bool(list[i], "lstrip", false, where);
    t.rstrip = json_bool(list[i], "rstrip", false, where);
    t.normalized =
        json_bool(list[i], "normalized", !json_bool(list[i], "special", false, where), where);
    t.special = json_bool(list[i], "special", false, where);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

// bos_token / eos_token of tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const Json& config, const char* key,
                                        const std::string& name) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) return std::nullopt;
  const Json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  return json_string(value, "content", str(name, ": ", key));
}

}  // namespace

struct HfTokenizer::Impl {
  std::string name;
  std::unique_ptr<TextNormalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<TokenDecoder> decoder;
  PostProcessor post_processor;
  AddedVocabulary added;
  std::optional<int32_t> bos, eos;

  std::optional<int32_t> lookup(const std::string& token) const {
    if (const AddedToken* t = added.find(token)) return t->id;
    return model->token_to_id(token);
  }
};

HfTokenizer::HfTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfTokenizer::HfTokenizer(HfTokenizer&&) noexcept = default;
HfTokenizer& HfTokenizer::operator=(HfTokenizer&&) noexcept = default;
HfTokenizer::~HfTokenizer() = default;

HfTokenizer HfTokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  std::string config;
  if (is_dir(path)) {
    file = (fs::path(path) / "tokenizer.json").string();
    UOE_CHECK(path_exists(file), "tokenizer directory '", path, "' has no tokenizer.json");
  }
  const fs::path config_path = fs::path(file).parent_path() / "tokenizer_config.json";
  if (path_exists(config_path)) config = read_file(config_path.string());
  return from_json(read_file(file), file, config);
}

HfTokenizer HfTokenizer::from_json(const std::string& tokenizer_json, const std::string& name,
                                   const std::string& config_json) {
  const std::string context = str("tokenizer '", name, "'");
  const Json root = parse_json(tokenizer_json, context);
  UOE_CHECK(root.is_object(), context, ": expected a JSON object at the top level");
  auto impl = std::make_unique<Impl>();
  impl->name = name;
  auto component = [&](const char* key) { return root.contains(key) ? root[key] : Json(); };
  UOE_CHECK(root.contains("model"), context, ": missing \"model\"");
  impl->model = std::make_unique<BpeModel>(root["model"], context + ": model");
  impl->normalizer = make_text_normalizer(component("normalizer"), context + ": normalizer");
  impl->pre_tokenizer = make_pre_tokenizer(component("pre_tokenizer"), context + ": pre_tokenizer");
  impl->decoder = make_token_decoder(component("decoder"), context + ": decoder");
  impl->post_processor = PostProcessor(component("post_processor"), context + ": post_processor");
  impl->added = AddedVocabulary(parse_added_tokens(root, context), impl->normalizer.get());

  HfTokenizer tokenizer(std::move(impl));
  const Impl& t = *tokenizer.impl_;
  const int64_t vocab = tokenizer.vocab_size();
  // Every id the post-processor adds must decode: ids below vocab_size can still be missing (a
  // vocabulary with gaps, or a special token left out of added_tokens).
  for (int32_t id : t.post_processor.apply({})) {
    const bool known = id >= 0 && id < vocab && (t.added.find(id) || t.model->id_to_token(id));
    UOE_CHECK(known, context, ": post_processor adds token id ", id,
              " that is not in the vocabulary (size ", vocab, ")");
  }
  if (!config_json.empty()) {
    const std::string config_name = str("tokenizer config for '", name, "'");
    const Json config = parse_json(config_json, config_name);
    for (auto [key, slot] :
         {std::pair<const char*, std::optional<int32_t>*>{"bos_token", &tokenizer.impl_->bos},
          {"eos_token", &tokenizer.impl_->eos}}) {
      const auto token = config_token(config, key, config_name);
      if (!token) continue;
      *slot = t.lookup(*token);
      UOE_CHECK(slot->has_value(), config_name, ": ", key, " '", *token,
                "' is not in the vocabulary");
    }
  }
  if (!t.bos && !t.post_processor.prefix().empty()) {
    tokenizer.impl_->bos = t.post_processor.prefix().front();
  }
  return tokenizer;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  const size_t invalid = find_invalid_utf8(text);
  UOE_CHECK(invalid == std::string::npos, "text to tokenize is not valid UTF-8 (byte ", invalid,
            ")");
  std::vector<TextSegment> raw, normalized;
  t.added.split({std::string(text), -1, true}, /*normalized_tokens=*/false, raw);
  std::vector<int32_t> ids;
  std::vector<PreToken> pieces;
  for (const TextSegment& segment : raw) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    TextSegment norm{t.normalizer ? t.normalizer->normalize(segment.text) : segment.text, -1,
                     segment.at_origin};
    normalized.clear();
    t.added.split(norm, /*normalized_tokens=*/true, normalized);
    for (TextSegment& part : normalized) {
      if (part.id >= 0) {
        ids.push_back(part.id);
        continue;
      }
      pieces.assign(1, PreToken{std::move(part.text), part.at_origin});
      if (t.pre_tokenizer) t.pre_tokenizer->split(pieces);
      for (const PreToken& piece : pieces) t.model->encode(piece.text, ids);
    }
  }
  return add_special_tokens ? t.post_processor.apply(ids) : ids;
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* added = t.added.find(id)) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(t.added.decode_form(id));
      continue;
    }
    const std::string* token = t.model->id_to_token(id);
    UOE_CHECK(token != nullptr, t.name, ": cannot decode token id ", id, ": not in the vocabulary");
    tokens.push_back(*token);
  }
  if (!t.decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  t.decoder->decode_chain(tokens);
  std::string out;
  for (const auto& s : tokens) out += s;
  return out;
}

int64_t HfTokenizer::vocab_size() const {
  return std::max(impl_->model->max_id(), impl_->added.max_id()) + 1;
}

std::optional<int32_t> HfTokenizer::token_to_id(const std::string& token) const {
  return impl_->lookup(token);
}

bool HfTokenizer::is_special(int32_t id) const {
  const AddedToken* t = impl_->added.find(id);
  return t != nullptr && t->special;
}

std::optional<int32_t> HfTokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> HfTokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> HfTokenizer::unk_id() const { return impl_->model->unk_id(); }
const std::string& HfTokenizer::name() const { return impl_->name; }
const std::vector<int32_t>& HfTokenizer::special_prefix() const {
  return impl_->post_processor.prefix();
}
const std::vector<int32_t>& HfTokenizer::special_suffix() const {
  return impl_->post_processor.suffix();
}

}  // namespace uoe
