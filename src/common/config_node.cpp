#include "common/config_node.h"

#include <algorithm>
#include <fstream>

namespace uoe {

ConfigNode::ConfigNode(YAML::Node node, YAML::Node resolved, std::string path)
    : node_(std::move(node)), resolved_(std::move(resolved)), path_(std::move(path)) {
  if (node_ && !node_.IsNull()) {
    UOE_CHECK(node_.IsMap(), "config key '", path_.empty() ? "<root>" : path_,
              "' must be a mapping of keys to values, got '", YAML::Dump(node_), "'");
  }
}

std::optional<YAML::Node> ConfigNode::lookup(const std::string& key) {
  known_.insert(key);
  if (!has(key)) return std::nullopt;
  const YAML::Node& map = node_;  // const access never inserts the key
  return map[key];
}

bool ConfigNode::has(const std::string& key) const {
  if (!node_ || !node_.IsMap()) return false;
  const YAML::Node& map = node_;
  const YAML::Node value = map[key];
  return value && !value.IsNull();
}

ConfigNode ConfigNode::child(const std::string& key) {
  YAML::Node value = lookup(key).value_or(YAML::Node());
  if (!resolved_[key] || !resolved_[key].IsMap()) resolved_[key] = YAML::Node(YAML::NodeType::Map);
  return ConfigNode(value, resolved_[key], dotted(key));
}

void ConfigNode::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& item : node_) {
    UOE_CHECK(item.first.IsScalar(), "config ", path_.empty() ? "" : "section '" + path_ + "' ",
              "has a list or mapping as a key; keys are names");
    const std::string key = item.first.Scalar();
    if (known_.count(key)) continue;
    std::string best;
    size_t best_distance = 4;
    for (const auto& candidate : known_) {
      const size_t d = edit_distance(key, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    UOE_CHECK(false, "unknown config key '", dotted(key), "'",
              best.empty() ? "" : c10::str("; did you mean '", dotted(best), "'?"));
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {

void set_dotted(YAML::Node node, const std::vector<std::string>& keys, size_t i,
                const YAML::Node& value, const std::string& override_text) {
  if (i + 1 == keys.size()) {
    node[keys[i]] = value;
    return;
  }
  YAML::Node next = node[keys[i]];
  if (!next || next.IsNull()) {
    node[keys[i]] = YAML::Node(YAML::NodeType::Map);
  } else {
    UOE_CHECK(next.IsMap(), "override '", override_text, "': '", keys[i],
              "' is not a mapping in the config");
  }
  set_dotted(node[keys[i]], keys, i + 1, value, override_text);
}

}  // namespace

YAML::Node load_yaml_with_overrides(const std::string& path,
                                    const std::vector<std::string>& overrides) {
  std::ifstream probe(path);
  UOE_CHECK(probe.good(), "cannot read config file '", path, "'");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    UOE_CHECK(false, "config file '", path, "' is not valid YAML: ", e.what());
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  UOE_CHECK(root.IsMap(), "config file '", path, "' must hold a mapping at the top level");
  apply_overrides(root, overrides);
  return root;
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) {
    const auto eq = text.find('=');
    UOE_CHECK(eq != std::string::npos && eq > 0, "override '", text,
              "' must look like dotted.key=value");
    const std::string key = text.substr(0, eq);
    std::vector<std::string> keys;
    size_t start = 0;
    while (true) {
      const auto dot = key.find('.', start);
      keys.push_back(key.substr(start, dot - start));
      UOE_CHECK(!keys.back().empty(), "override '", text, "' has an empty key part");
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    YAML::Node value;
    try {
      value = YAML::Load(text.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      UOE_CHECK(false, "override '", text, "': value is not valid YAML: ", e.what());
    }
    set_dotted(root, keys, 0, value, text);
  }
}

}  // namespace uoe
