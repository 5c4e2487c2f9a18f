#pragma once
// Typed access to the components of a Hugging Face tokenizer.json with InputError messages that
// start with a context naming the file and the component ("tokenizer '<file>': pre_tokenizer").
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace uoe {

using Json = nlohmann::json;

// `spec` must be an object with a string "type"; returns it.
std::string json_type(const Json& spec, const std::string& context);
// Required member of any JSON type.
const Json& json_member(const Json& spec, const char* key, const std::string& context);
std::string json_string(const Json& spec, const char* key, const std::string& context);
// Optional members: `fallback` when absent or null.
bool json_bool(const Json& spec, const char* key, bool fallback, const std::string& context);
int64_t json_int(const Json& spec, const char* key, int64_t fallback, const std::string& context);
// `spec[key]` must be an array of objects; returns it.
const Json& json_array(const Json& spec, const char* key, const std::string& context);
// A string that must hold exactly one code point (e.g. Metaspace "replacement").
std::string json_char(const Json& spec, const char* key, const std::string& context);

// "<context>: null component in a Sequence".
[[noreturn]] void throw_null_component(const std::string& context);

// The components of a Sequence: make(spec[key][i], context + "." + key + "[i]") for each i;
// a null component is an error.
template <typename Component, typename Make>
std::vector<std::unique_ptr<Component>> json_sequence(const Json& spec, const char* key,
                                                      const std::string& context, Make make) {
  const Json& list = json_array(spec, key, context);
  std::vector<std::unique_ptr<Component>> steps;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string sub = context + "." + key + "[" + std::to_string(i) + "]";
    steps.push_back(make(list[i], sub));
    if (!steps.back()) throw_null_component(sub);
  }
  return steps;
}
// "<context>: unsupported <what> '<type>' (supported: a, b, c)".
[[noreturn]] void throw_unsupported(const std::string& context, const std::string& what,
                                    const std::string& type,
                                    const std::vector<std::string>& supported);

}  // namespace uoe
