#!/usr/bin/env bash
# libsqueeze_c.so's dynamic symbol table holds exactly the functions of exports.map, all of them
# defined functions (T), nothing else.
set -euo pipefail
lib="$1"
map="$(dirname "$0")/exports.map"
expected=$(sed -n 's/^ *\(squeeze_[a-z_]*\);$/\1/p' "$map" | sort)
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
functions=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sort)
status=0
if [ "$expected" != "$actual" ]; then
  echo "exports differ from exports.map:"
  diff <(echo "$expected") <(echo "$actual") || true
  status=1
fi
if [ "$expected" != "$functions" ]; then
  echo "not every export is a defined function"
  status=1
fi
[ $status -eq 0 ] && echo "exports ok:" $actual
exit $status
