#include "tokenizer/tokenizer_json.h"

#include "common/check.h"
#include "tokenizer/utf8.h"

namespace uoe {

std::string json_type(const Json& spec, const std::string& context) {
  UOE_CHECK(spec.is_object(), context, ": expected a JSON object, got ", spec.type_name());
  return json_string(spec, "type", context);
}

const Json& json_member(const Json& spec, const char* key, const std::string& context) {
  UOE_CHECK(spec.is_object(), context, ": expected a JSON object, got ", spec.type_name());
  const auto it = spec.find(key);
  UOE_CHECK(it != spec.end(), context, ": missing \"", key, "\"");
  return *it;
}

std::string json_string(const Json& spec, const char* key, const std::string& context) {
  const Json& value = json_member(spec, key, context);
  UOE_CHECK(value.is_string(), context, ": \"", key, "\" must be a string, got ", value.dump());
  return value.get<std::string>();
}

bool json_bool(const Json& spec, const char* key, bool fallback, const std::string& context) {
  UOE_CHECK(spec.is_object(), context, ": expected a JSON object, got ", spec.type_name());
  const auto it = spec.find(key);
  if (it == spec.end() || it->is_null()) return fallback;
  UOE_CHECK(it->is_boolean(), context, ": \"", key, "\" must be true or false, got ", it->dump());
  return it->get<bool>();
}

int64_t json_int(const Json& spec, const char* key, int64_t fallback, const std::string& context) {
  UOE_CHECK(spec.is_object(), context, ": expected a JSON object, got ", spec.type_name());
  const auto it = spec.find(key);
  if (it == spec.end() || it->is_null()) return fallback;
  UOE_CHECK(it->is_number_integer(), context, ": \"", key, "\" must be an integer, got ",
            it->dump());
  return it->get<int64_t>();
}

const Json& json_array(const Json& spec, const char* key, const std::string& context) {
  const Json& value = json_member(spec, key, context);
  UOE_CHECK(value.is_array(), context, ": \"", key, "\" must be an array, got ", value.type_name());
  return value;
}

std::string json_char(const Json& spec, const char* key, const std::string& context) {
  const std::string value = json_string(spec, key, context);
  UOE_CHECK(find_invalid_utf8(value) == std::string::npos && decode_utf8(value).size() == 1,
            context, ": \"", key, "\" must be a single character, got '", value, "'");
  return value;
}

void throw_null_component(const std::string& context) {
  throw InputError(str(context, ": null component in a Sequence"));
}

void throw_unsupported(const std::string& context, const std::string& what, const std::string& type,
                       const std::vector<std::string>& supported) {
  std::string list;
  for (const auto& s : supported) list += (list.empty() ? "" : ", ") + s;
  throw InputError(str(context, ": unsupported ", what, " '", type, "' (supported: ", list, ")"));
}

}  // namespace uoe
