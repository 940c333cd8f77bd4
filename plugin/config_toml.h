// Reads the configuration file (NCCL_SQUEEZE_CONFIG) with a real TOML parser (toml++, through its
// non-throwing API) and returns its keys with their TOML types and line numbers. The structure is
// checked here: the keys are either all at the top level or all in one [squeeze] table; nothing
// else may be a table. Which keys exist and which types they take is the caller's business
// (config.cc, from the parameter table).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace squeeze::plugin {

struct TomlEntry {
  enum class Kind { kString, kInteger, kFloat, kBool, kOther };
  std::string key;
  Kind kind = Kind::kOther;
  std::string str;       // kString: the string's contents
  int64_t integer = 0;   // kInteger
  double number = 0.0;   // kFloat
  bool boolean = false;  // kBool
  std::string shown;     // the value as TOML writes it (for messages)
  int line = 0;
};

// Parses `text` (the contents of the file named `source`). Returns false and sets *error to
// "line N[, column C]: what" on invalid TOML or a misplaced table; *entries is in file order.
// Never throws.
bool read_toml_config(const std::string& text, const std::string& source,
                      std::vector<TomlEntry>* entries, std::string* error);

}  // namespace squeeze::plugin
