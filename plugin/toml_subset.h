// A strict parser for the small TOML subset the configuration file may use:
//   # comments, blank lines, `key = value` with a bare lower-case key, values that are basic
//   strings ("..." with \" \\ \n \t escapes), integers, floats and booleans, and at most one
//   [squeeze] table header. Anything else (other tables, arrays, inline tables, dotted keys,
//   duplicate keys, trailing text) is rejected with its line number.
#pragma once

#include <string>
#include <vector>

namespace squeeze::plugin {

struct TomlEntry {
  enum class Kind { kString, kInteger, kFloat, kBool };
  std::string key;
  std::string value;  // the string's contents, or the literal text of a number or boolean
  Kind kind;
  int line;
};

// Returns false and sets *error ("line N: ...") on the first violation.
bool parse_toml_subset(const std::string& text, std::vector<TomlEntry>* entries,
                       std::string* error);

}  // namespace squeeze::plugin
