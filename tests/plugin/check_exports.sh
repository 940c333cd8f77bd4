#!/usr/bin/env bash
# The plugin's dynamic symbol table holds exactly the allow-list: the four net tables, the
# profiler table, and the squeeze_* control functions (plugin/api/exports.map).
# --tables-only LIB: the four net tables and nothing else (the standalone TCP plugin,
# plugin/api/exports_tcp.map).
set -euo pipefail
tables_only=0
if [ "${1:-}" = --tables-only ]; then tables_only=1; shift; fi
lib="$1"
required="ncclNetPlugin_v11 ncclNetPlugin_v10 ncclNetPlugin_v9 ncclNetPlugin_v8"
# The control functions a training script reaches through ctypes (plugin/api/control.cc).
required_functions="squeeze_version squeeze_get_stats_json squeeze_set_policy squeeze_get_policy
  squeeze_set_layout squeeze_set_iteration squeeze_get_iteration"
[ $tables_only -eq 1 ] && required_functions=""
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
status=0
for s in $required; do
  if ! grep -qx "$s" <<<"$syms"; then echo "missing export: $s"; status=1; fi
done
for s in $syms; do
  case "$s" in
    ncclNetPlugin_v11|ncclNetPlugin_v10|ncclNetPlugin_v9|ncclNetPlugin_v8) ;;
    ncclProfiler_v5|squeeze_*) [ $tables_only -eq 0 ] || { echo "unexpected export: $s"; status=1; } ;;
    *) echo "unexpected export: $s"; status=1 ;;
  esac
done
for s in $required_functions; do
  nm -D --defined-only "$lib" | grep -q " T $s\$" || { echo "missing exported function: $s"; status=1; }
done
# The tables are data objects (D), not functions, and not read-only.
for s in $required; do
  nm -D --defined-only "$lib" | grep -q " D $s\$" || { echo "$s is not a writable data symbol"; status=1; }
done
[ $status -eq 0 ] && echo "exports ok:" $syms
exit $status
