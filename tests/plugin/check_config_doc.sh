#!/usr/bin/env bash
# docs/CONFIG.md must contain the parameter table exactly as squeeze-config-doc generates it.
set -euo pipefail
tool="$1"; doc="$2"
expected=$("$tool")
if ! grep -qF -- "$(head -1 <<<"$expected")" "$doc"; then echo "table header missing from $doc"; exit 1; fi
actual=$(awk '/^\| Variable \|/{on=1} on && /^\|/{print; next} on{exit}' "$doc")
if [ "$expected" != "$actual" ]; then
  echo "docs/CONFIG.md is out of date; regenerate the table with squeeze-config-doc"
  diff <(echo "$expected") <(echo "$actual") || true
  exit 1
fi
echo "CONFIG.md table matches the declarations"
