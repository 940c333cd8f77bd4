#include "plugin/toml_subset.h"

#include <cctype>
#include <cstdlib>

namespace squeeze::plugin {
namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

void skip_spaces(const std::string& s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

// After a value: only spaces and an optional comment may follow.
bool rest_is_empty(const std::string& s, size_t i) {
  skip_spaces(s, &i);
  return i == s.size() || s[i] == '#';
}

bool fail(std::string* error, int line, const std::string& what) {
  *error = "line " + std::to_string(line) + ": " + what;
  return false;
}

bool parse_string(const std::string& s, size_t* i, std::string* out, std::string* what) {
  // s[*i] == '"'
  ++*i;
  out->clear();
  while (*i < s.size()) {
    char c = s[(*i)++];
    if (c == '"') return true;
    if (c == '\\') {
      if (*i >= s.size()) break;
      char e = s[(*i)++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        default:
          *what = std::string("unsupported escape \\") + e;
          return false;
      }
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      *what = "control character in string";
      return false;
    }
    out->push_back(c);
  }
  *what = "unterminated string";
  return false;
}

// A TOML integer or float (decimal only; underscores between digits allowed as TOML does).
bool parse_number(const std::string& token, TomlEntry::Kind* kind, std::string* normalised) {
  if (token.empty()) return false;
  std::string t;
  for (size_t k = 0; k < token.size(); ++k) {
    char c = token[k];
    if (c == '_') {
      bool ok = k > 0 && k + 1 < token.size() &&
                std::isdigit(static_cast<unsigned char>(token[k - 1])) &&
                std::isdigit(static_cast<unsigned char>(token[k + 1]));
      if (!ok) return false;
      continue;
    }
    t.push_back(c);
  }
  bool is_float = t.find_first_of(".eE") != std::string::npos;
  for (char c : t) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.' ||
          c == 'e' || c == 'E')) {
      return false;
    }
  }
  char* end = nullptr;
  if (is_float) {
    std::strtod(t.c_str(), &end);
  } else {
    std::strtoll(t.c_str(), &end, 10);
  }
  if (end == t.c_str() || *end != '\0') return false;
  *kind = is_float ? TomlEntry::Kind::kFloat : TomlEntry::Kind::kInteger;
  *normalised = t;
  return true;
}

}  // namespace

bool parse_toml_subset(const std::string& text, std::vector<TomlEntry>* entries,
                       std::string* error) {
  entries->clear();
  bool seen_table = false;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t i = 0;
    skip_spaces(line, &i);
    if (i == line.size() || line[i] == '#') {
      if (eol == text.size()) break;
      continue;
    }
    if (line[i] == '[') {
      size_t close = line.find(']', i);
      if (close == std::string::npos) return fail(error, line_no, "unterminated table header");
      std::string name = line.substr(i + 1, close - i - 1);
      if (name != "squeeze") {
        return fail(error, line_no, "only a [squeeze] table is allowed, found [" + name + "]");
      }
      if (seen_table) return fail(error, line_no, "duplicate [squeeze] table");
      if (!entries->empty()) {
        return fail(error, line_no, "[squeeze] must come before any key");
      }
      if (!rest_is_empty(line, close + 1)) {
        return fail(error, line_no, "unexpected text after table header");
      }
      seen_table = true;
      if (eol == text.size()) break;
      continue;
    }
    size_t key_start = i;
    while (i < line.size() && is_key_char(line[i])) ++i;
    std::string key = line.substr(key_start, i - key_start);
    if (key.empty()) {
      return fail(error, line_no, "expected a lower-case key (a-z, 0-9, _)");
    }
    skip_spaces(line, &i);
    if (i >= line.size() || line[i] != '=') {
      return fail(error, line_no, "expected '=' after key '" + key + "'");
    }
    ++i;
    skip_spaces(line, &i);
    if (i >= line.size()) return fail(error, line_no, "missing value for key '" + key + "'");
    TomlEntry entry{key, "", TomlEntry::Kind::kString, line_no};
    if (line[i] == '"') {
      std::string what;
      if (!parse_string(line, &i, &entry.value, &what)) return fail(error, line_no, what);
    } else {
      size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '#') ++i;
      std::string token = line.substr(start, i - start);
      if (token == "true" || token == "false") {
        entry.kind = TomlEntry::Kind::kBool;
        entry.value = token;
      } else if (!parse_number(token, &entry.kind, &entry.value)) {
        return fail(error, line_no,
                    "value of '" + key + "' must be a \"string\", a number or true/false, found '" +
                        token + "'");
      }
    }
    if (!rest_is_empty(line, i)) {
      return fail(error, line_no, "unexpected text after the value of '" + key + "'");
    }
    for (const TomlEntry& e : *entries) {
      if (e.key == key) {
        return fail(error, line_no,
                    "duplicate key '" + key + "' (first on line " + std::to_string(e.line) + ")");
      }
    }
    entries->push_back(entry);
    if (eol == text.size()) break;
  }
  return true;
}

}  // namespace squeeze::plugin
