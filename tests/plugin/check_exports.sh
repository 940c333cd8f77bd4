#!/usr/bin/env bash
# The plugin's dynamic symbol table holds exactly the allow-list: the four net tables, the
# profiler table, and the squeeze_* control functions (plugin/api/exports.map).
set -euo pipefail
lib="$1"
required="ncclNetPlugin_v11 ncclNetPlugin_v10 ncclNetPlugin_v9 ncclNetPlugin_v8"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
status=0
for s in $required; do
  if ! grep -qx "$s" <<<"$syms"; then echo "missing export: $s"; status=1; fi
done
for s in $syms; do
  case "$s" in
    ncclNetPlugin_v11|ncclNetPlugin_v10|ncclNetPlugin_v9|ncclNetPlugin_v8|ncclProfiler_v5|squeeze_*) ;;
    *) echo "unexpected export: $s"; status=1 ;;
  esac
done
# The tables are data objects (D), not functions, and not read-only.
for s in $required; do
  nm -D --defined-only "$lib" | grep -q " D $s\$" || { echo "$s is not a writable data symbol"; status=1; }
done
[ $status -eq 0 ] && echo "exports ok:" $syms
exit $status
