// squeeze-config-doc: prints the parameter table of docs/CONFIG.md, generated from the one
// declaration in plugin/config.h (a test checks that the document matches).
#include <cstdio>

#include "plugin/config.h"

int main() {
  std::fputs(squeeze::plugin::config_markdown_table().c_str(), stdout);
  return 0;
}
