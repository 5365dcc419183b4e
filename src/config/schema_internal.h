#pragma once
// The key table shared by the loader (config.cpp) and the schema listing (schema.cpp).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "deepzine/config/config.h"

namespace deepzine::config::detail {

// Collects every problem of a file so that one run reports all of them.
struct Problems {
  std::string file;
  std::vector<std::string> messages;
  // Keys whose value came from --set (key -> "KEY=VALUE"): their problems name the --set, not a line.
  std::map<std::string, std::string> from_set;
  void add(const YAML::Mark& mark, const std::string& key, const std::string& what);
  void add_plain(const std::string& what) { messages.push_back(what); }
};

struct KeyDef {
  KeyInfo info;
  // Parses `value` into cfg; reports a problem (naming the key) when the value has the wrong type.
  std::function<void(Config&, const YAML::Node& value, Problems&)> set;
};

const std::vector<KeyDef>& key_table();

// True for the spellings the original's configs use for "no value": YAML null, ~, None, "".
bool is_none(const YAML::Node& value);

}  // namespace deepzine::config::detail
