#pragma once
// Enumerations that the config names by string (unlearn.method, lr_scheduler_type, ...): each one
// has a table of (value, name) pairs beside its options struct. The config reader keeps the name
// in the resolved config (so the printed YAML and config_hash are the strings) and hands the
// program the value; the code branches on values, never on strings.
#include <cstddef>
#include <optional>
#include <string>

namespace uoe {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E, size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> enum_value(const EnumName<E> (&table)[N], const std::string& name) {
  for (const auto& entry : table) {
    if (name == entry.name) return entry.value;
  }
  return std::nullopt;
}

// "a, b or c": the choices for an error message.
template <typename E, size_t N>
std::string enum_choices(const EnumName<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += table[i].name;
  }
  return out;
}

}  // namespace uoe
