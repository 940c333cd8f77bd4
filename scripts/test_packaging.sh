#!/usr/bin/env bash
# The packaging test (scripts/test.sh runs it, so CI does): builds the wheel from this checkout
# (pyproject.toml, scikit-build-core; only the plugin and libsqueeze_c, CPU-only, no tests), installs
# it into a fresh virtual environment with no network (the wheel has no dependencies) and, from
# outside the source tree, checks what a user would run:
#   python -m squeeze env    prints export lines with the absolute path of the installed plugin;
#   python -m squeeze check  loads that plugin as NCCL does and reports versions, devices,
#                            ptrSupport and the effective settings;
# and that the wheel's libsqueeze_c.so is the one squeeze.codec finds.
# The wheel's CMake build folder is build/wheel (kept: a second run is incremental).
# Usage: scripts/test_packaging.sh            (needs scripts/venv.sh scikit-build-core, which
#                                              this script runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(bash scripts/venv.sh scikit-build-core | tail -1)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/squeeze-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_packaging: FAIL: $*" >&2; exit 1; }
version=$(sed -n 's/^project(squeeze VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || fail "no VERSION in CMakeLists.txt's project()"

echo "== wheel (pip wheel . with the project's scikit-build-core, no build isolation)"
start=$SECONDS
"$venv/bin/python" -m pip wheel --no-build-isolation --no-deps -q -w "$tmp/dist" . ||
  fail "building the wheel"
wheel=$(ls "$tmp"/dist/squeeze_nccl-*.whl)
case "$(basename "$wheel")" in "squeeze_nccl-$version-py3-none-"*) ;;
  *) fail "wheel $(basename "$wheel"): not the CMake project's version, or not py3-none" ;; esac
echo "built $(basename "$wheel") in $((SECONDS - start)) s"
"$venv/bin/python" - "$wheel" <<'PY' || fail "wheel contents"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["squeeze/__init__.py", "squeeze/__main__.py", "squeeze/plugin.py", "squeeze/stats.py",
        "squeeze/plots.py", "squeeze/codec.py", "squeeze/lib/libnccl-net-squeeze.so",
        "squeeze/lib/libsqueeze_c.so"]
missing = [n for n in need if n not in names]
print("wheel holds", len(names), "files; missing:", missing or "none")
sys.exit(1 if missing else 0)
PY

echo "== fresh virtual environment, pip install of the wheel (no index)"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-index "$wheel" || fail "pip install"
cd "$tmp"  # nothing from the checkout on the path: the installed package only
py="$tmp/venv/bin/python"
site=$("$py" -c 'import squeeze, os; print(os.path.dirname(squeeze.__file__))')
case "$site" in "$tmp/venv/"*) ;; *) fail "squeeze imported from $site, not the venv" ;; esac
plugin="$site/lib/libnccl-net-squeeze.so"

echo "== python -m squeeze env"
"$py" -m squeeze env --stats-file /tmp/s.jsonl | tee "$tmp/env.txt"
grep -qxF "export NCCL_NET_PLUGIN=$plugin" "$tmp/env.txt" || fail "NCCL_NET_PLUGIN is not $plugin"
grep -qxF "export NCCL_NET=Squeeze" "$tmp/env.txt" || fail "no NCCL_NET=Squeeze"
grep -qxF "export NCCL_SQUEEZE_STATS_FILE=/tmp/s.jsonl" "$tmp/env.txt" || fail "no stats file"
# The lines are shell: evaluated, they name a file that exists.
( eval "$(cat "$tmp/env.txt")"; [ -f "$NCCL_NET_PLUGIN" ] ) || fail "eval of the env lines"

echo "== python -m squeeze check"
NCCL_SQUEEZE_BOUND=0.004 "$py" -m squeeze check | tee "$tmp/check.txt" || fail "check exited non-zero"
grep -qF "plugin: $plugin" "$tmp/check.txt" || fail "check did not load the installed plugin"
grep -qxF "squeeze_version(): $version" "$tmp/check.txt" || fail "squeeze_version() is not $version"
grep -qF "init through ncclNetPlugin_v11 (NCCL 2.28 uses the newest it finds): ncclSuccess" \
  "$tmp/check.txt" || fail "init through v11"
grep -qE "^devices: [1-9][0-9]*$" "$tmp/check.txt" || fail "no devices"
grep -qE "^device 0: .* ptrSupport HOST " "$tmp/check.txt" ||
  fail "device 0 does not report host buffers (this wheel is CPU-only)"
grep -qF "BOUND" "$tmp/check.txt" || fail "no settings in the report"
grep -qF "NCCL_SQUEEZE_BOUND=0.004 (env)" "$tmp/check.txt" || fail "the environment's NCCL_SQUEEZE_BOUND is not shown"
grep -qxF "check: OK" "$tmp/check.txt" || fail "check: not OK"
# The same through v8 (the oldest table NCCL 2.28 accepts), as JSON.
"$py" -m squeeze check --table 8 --json >"$tmp/check8.json" || fail "check --table 8"
"$py" - "$tmp/check8.json" <<'PY' || fail "check --table 8 --json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["table"] == "ncclNetPlugin_v8", r.get("error")
assert all(r["tables"][f"v{v}"] == "Squeeze" for v in (8, 9, 10, 11)), r["tables"]
assert r["devices"] and all(d["ptrSupport"] & 1 for d in r["devices"]), r["devices"]
print("v8 check: OK,", len(r["devices"]), "device(s)")
PY
# A plugin that is not there fails with a non-zero status, naming it.
if "$py" -m squeeze check --plugin "$tmp/nope.so" 2>"$tmp/err.txt"; then fail "check of a missing plugin"; fi
grep -qF "$tmp/nope.so" "$tmp/err.txt" || fail "the missing plugin is not named"

echo "== the wheel's libsqueeze_c.so loads (squeeze.codec looks there first; it needs numpy)"
"$py" -c 'import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); v = lib.squeeze_api_version(); print("squeeze_api_version", v); sys.exit(0 if v >= 1 else 1)' "$site/lib/libsqueeze_c.so" ||
  fail "libsqueeze_c.so from the wheel"
echo "test_packaging: OK ($((SECONDS - start)) s)"
