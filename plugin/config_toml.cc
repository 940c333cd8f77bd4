// The only translation unit that includes toml++. TOML_EXCEPTIONS 0 selects toml++'s
// non-throwing API (parse() returns a toml::parse_result), so nothing here can throw across the
// plugin's C ABI; the #error below catches a build where exceptions were switched on for it.
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "plugin/config_toml.h"

#include <algorithm>
#include <sstream>
#include <string_view>

#if TOML_EXCEPTIONS
#error "config_toml.cc must use toml++'s non-throwing API (TOML_EXCEPTIONS 0)"
#endif
#if TOML_LIB_MAJOR < 3
#error "toml++ 3.x is required (Debian: libtomlplusplus-dev)"
#endif

namespace squeeze::plugin {
namespace {

int line_of(const toml::source_region& r) {
  return static_cast<int>(r.begin.line);
}

const char* kind_word(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    default:
      return "a value";
  }
}

TomlEntry make_entry(const toml::key& key, const toml::node& node) {
  TomlEntry e;
  e.key = std::string(key.str());
  e.line = line_of(key.source());
  if (e.line == 0) e.line = line_of(node.source());
  if (const auto* s = node.as_string()) {
    e.kind = TomlEntry::Kind::kString;
    e.str = s->get();
  } else if (const auto* i = node.as_integer()) {
    e.kind = TomlEntry::Kind::kInteger;
    e.integer = i->get();
  } else if (const auto* f = node.as_floating_point()) {
    e.kind = TomlEntry::Kind::kFloat;
    e.number = f->get();
  } else if (const auto* b = node.as_boolean()) {
    e.kind = TomlEntry::Kind::kBool;
    e.boolean = b->get();
  } else {
    e.kind = TomlEntry::Kind::kOther;
    e.shown = kind_word(node);
    return e;
  }
  if (e.kind == TomlEntry::Kind::kString) {
    e.shown = "\"";
    for (char c : e.str) {
      if (c == '"' || c == '\\') e.shown += '\\';
      e.shown += c;
    }
    e.shown += '"';
    return e;
  }
  std::ostringstream shown;
  node.visit([&shown](const auto& v) { shown << v; });
  e.shown = shown.str();
  return e;
}

std::string at_line(int line, const std::string& what) {
  return "line " + std::to_string(line) + ": " + what;
}

}  // namespace

bool read_toml_config(const std::string& text, const std::string& source,
                      std::vector<TomlEntry>* entries, std::string* error) {
  entries->clear();
  toml::parse_result parsed = toml::parse(std::string_view(text), std::string_view(source));
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    const toml::source_position& at = err.source().begin;
    *error = "line " + std::to_string(at.line) + ", column " + std::to_string(at.column) + ": " +
             std::string(err.description());
    return false;
  }
  const toml::table& root = parsed.table();

  // Either every key at the top level, or every key in a [squeeze] table (any TOML spelling of
  // it: a header, `squeeze.key = ...` or an inline table).
  const toml::table* keys = &root;
  if (const toml::node* sq = root.get("squeeze"); sq != nullptr && sq->is_table()) {
    const toml::key* first = nullptr;  // the first other key in the file
    for (const auto& [key, node] : root) {
      if (key.str() == "squeeze") continue;
      if (first == nullptr || line_of(key.source()) < line_of(first->source())) first = &key;
    }
    if (first != nullptr) {
      *error = at_line(line_of(first->source()),
                       "key '" + std::string(first->str()) +
                           "' is outside the [squeeze] table; with a [squeeze] table every key "
                           "goes in it");
      return false;
    }
    keys = sq->as_table();
  }
  for (const auto& [key, node] : *keys) entries->push_back(make_entry(key, node));
  // toml::table iterates in key order; report and apply in file order.
  std::stable_sort(entries->begin(), entries->end(),
                   [](const TomlEntry& a, const TomlEntry& b) { return a.line < b.line; });
  return true;
}

}  // namespace squeeze::plugin
