#pragma once
// Typed, checked access to a YAML config tree.
//
// Every key read through a ConfigNode is recorded, with the value actually used (default or
// given), in a "resolved" tree that rank 0 prints and saves. finish() rejects keys that were never
// read, with a "did you mean" hint. Errors name the dotted key, e.g. "model.hidden_size".
#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/named_enum.h"

namespace uoe {

class ConfigNode {
 public:
  // `path` is the dotted prefix of this node ("" for the root).
  ConfigNode(YAML::Node node, YAML::Node resolved, std::string path);

  template <typename T>
  T get(const std::string& key, const T& default_value) {
    std::optional<YAML::Node> value = lookup(key);
    T result = value ? convert<T>(*value, key) : default_value;
    resolved_[key] = result;
    return result;
  }

  template <typename T>
  T require(const std::string& key) {
    std::optional<YAML::Node> value = lookup(key);
    UOE_CHECK(value, "missing required config key '", dotted(key), "'");
    T result = convert<T>(*value, key);
    resolved_[key] = result;
    return result;
  }

  // A named enumeration (common/named_enum.h): the name is what the resolved config records; a
  // name not in `table` is an error listing the choices.
  template <typename E, size_t N>
  E get_enum(const std::string& key, E default_value, const EnumName<E> (&table)[N]) {
    const auto name = get<std::string>(key, enum_name(table, default_value));
    const std::optional<E> value = enum_value(table, name);
    UOE_CHECK(value, dotted(key), " must be ", enum_choices(table), ", got '", name, "'");
    return *value;
  }

  bool has(const std::string& key) const;
  // A nested mapping (empty when absent). Call finish() on it too.
  ConfigNode child(const std::string& key);
  // Throws InputError for any key present here but never read.
  void finish() const;

  const std::string& path() const { return path_; }
  std::string dotted(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

 private:
  // The value under `key`, or nullopt when absent or null. Records `key` as known.
  std::optional<YAML::Node> lookup(const std::string& key);

  template <typename T>
  T convert(const YAML::Node& value, const std::string& key) const {
    try {
      return value.as<T>();
    } catch (const YAML::Exception&) {
      UOE_CHECK(false, "config key '", dotted(key), "': expected ", type_name<T>(), ", got '",
                YAML::Dump(value), "'");
    }
    return T{};
  }

  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>)
      return "true or false";
    else if constexpr (std::is_integral_v<T>)
      return "an integer";
    else if constexpr (std::is_floating_point_v<T>)
      return "a number";
    else if constexpr (std::is_same_v<T, std::string>)
      return "a string";
    else
      return "a list";
  }

  YAML::Node node_;
  YAML::Node resolved_;
  std::string path_;
  std::set<std::string> known_;
};

// Loads a YAML file and applies "dotted.key=value" overrides (values parsed as YAML scalars or
// flow sequences). Throws InputError naming the file or the override.
YAML::Node load_yaml_with_overrides(const std::string& path,
                                    const std::vector<std::string>& overrides);
// The override part of load_yaml_with_overrides, on a mapping `root`.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides);

// Levenshtein distance; used for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace uoe
