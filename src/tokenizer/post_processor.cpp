#include "tokenizer/post_processor.h"

#include "common/check.h"

namespace uoe {
namespace {

constexpr int64_t kMaxId = int64_t(1) << 24;

// ["<s>", 1] of Roberta/BertProcessing.
int32_t token_pair_id(const Json& spec, const char* key, const std::string& context) {
  const Json& pair = json_member(spec, key, context);
  UOE_CHECK(pair.is_array() && pair.size() == 2 && pair[1].is_number_integer() &&
                pair[1].get<int64_t>() >= 0 && pair[1].get<int64_t>() < kMaxId,
            context, ": \"", key, "\" must be [token, id], got ", pair.dump());
  return pair[1].get<int32_t>();
}

}  // namespace

PostProcessor::PostProcessor(const Json& spec, const std::string& context) {
  if (!spec.is_null()) add(spec, context);
}

void PostProcessor::add(const Json& spec, const std::string& context) {
  const std::string type = json_type(spec, context);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const Json& list = json_array(spec, "processors", context);
    for (size_t i = 0; i < list.size(); ++i) add(list[i], str(context, ".processors[", i, "]"));
    return;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    // Later processors wrap what earlier ones produced.
    prefix_.insert(prefix_.begin(), token_pair_id(spec, "cls", context));
    suffix_.push_back(token_pair_id(spec, "sep", context));
    return;
  }
  if (type != "TemplateProcessing") {
    throw_unsupported(
        context, "post-processor", type,
        {"TemplateProcessing", "ByteLevel", "RobertaProcessing", "BertProcessing", "Sequence"});
  }
  const Json& single = json_array(spec, "single", context);
  const Json& special = json_member(spec, "special_tokens", context);
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (const Json& piece : single) {
    if (piece.contains("Sequence")) {
      const std::string id = json_string(piece["Sequence"], "id", context);
      UOE_CHECK(id == "A" && !seen_sequence, context,
                ": the single template must contain the sequence $A once, got ", single.dump());
      seen_sequence = true;
      continue;
    }
    const std::string name =
        json_string(json_member(piece, "SpecialToken", context), "id", context);
    const Json& entry = json_member(special, name.c_str(), context + ".special_tokens");
    const Json& ids = json_array(entry, "ids", context + ".special_tokens." + name);
    for (const Json& id : ids) {
      UOE_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < kMaxId,
                context, ": special token '", name, "' has a bad id ", id.dump());
      (seen_sequence ? after : before).push_back(id.get<int32_t>());
    }
  }
  UOE_CHECK(seen_sequence, context, ": the single template has no $A");
  prefix_.insert(prefix_.begin(), before.begin(), before.end());
  suffix_.insert(suffix_.end(), after.begin(), after.end());
}

std::vector<int32_t> PostProcessor::apply(const std::vector<int32_t>& ids) const {
  std::vector<int32_t> out;
  out.reserve(prefix_.size() + ids.size() + suffix_.size());
  out.insert(out.end(), prefix_.begin(), prefix_.end());
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), suffix_.begin(), suffix_.end());
  return out;
}

}  // namespace uoe
