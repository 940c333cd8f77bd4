#!/usr/bin/env bash
# `cmake --install` of a build into a temporary prefix, moved elsewhere afterwards (the CMake
# package and the .pc file must be relocatable), then a consumer built against it both ways:
#   find_package(Squeeze): consumer/ with Squeeze::squeeze (static) and Squeeze::squeeze_shared;
#   pkg-config squeeze:    the same source compiled with --cflags / --libs (shared) and with
#                          the libdir's libsqueeze.a (static).
# Every program must round-trip within its bound and shrink the data (consumer.cc).
# Usage: install_test.sh BUILD_DIR      (ctest: install_consumer)
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/squeeze-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/staging" >"$tmp/install.log"
mv "$tmp/staging" "$tmp/prefix"   # relocated: nothing may point at the staging path
prefix=$tmp/prefix
for f in include/squeeze/codec.h include/squeeze/format.h include/squeeze/squeeze_c.h; do
  [ -f "$prefix/$f" ] || fail "$f not installed"
done
cfg=$(find "$prefix" -name SqueezeConfig.cmake)
pc=$(find "$prefix" -name squeeze.pc)
[ -n "$cfg" ] || fail "no SqueezeConfig.cmake"
[ -n "$pc" ] || fail "no squeeze.pc"
libdir=$(dirname "$(dirname "$pc")")
for f in libnccl-net-squeeze.so libsqueeze.a libsqueeze.so libsqueeze_c.so; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
if grep -rqs "$tmp/staging" "$prefix"; then fail "an installed file names the staging prefix"; fi
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

# find_package(Squeeze)
cmake -S "$here/consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" || { cat "$tmp/cmake.log"; fail "configure"; }
grep "consumer: Squeeze" "$tmp/cmake.log"
cmake --build "$tmp/cmake" >"$tmp/build.log" || { cat "$tmp/build.log"; fail "build"; }
"$tmp/cmake/consumer_static"
"$tmp/cmake/consumer_shared"
readelf -d "$tmp/cmake/consumer_static" | grep -q 'NEEDED.*libsqueeze' &&
  fail "consumer_static depends on a shared libsqueeze"
readelf -d "$tmp/cmake/consumer_shared" | grep -q 'NEEDED.*libsqueeze\.so' ||
  fail "consumer_shared does not use libsqueeze.so"
"$tmp/cmake/consumer_static" | grep -qF "plugin $libdir/libnccl-net-squeeze.so" ||
  fail "Squeeze::nccl_net_squeeze is not the installed plugin"

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion squeeze)" != "" ] || fail "pkg-config --modversion"
pc_libdir=$(pkg-config --variable=libdir squeeze)
[ "$(cd "$pc_libdir" && pwd)" = "$libdir" ] || fail "pkg-config libdir $pc_libdir != $libdir"
[ -f "$(pkg-config --variable=plugin squeeze)" ] || fail "pkg-config plugin variable"
# shellcheck disable=SC2046
c++ -std=c++17 "$here/consumer/consumer.cc" $(pkg-config --cflags squeeze) \
  $(pkg-config --libs squeeze) -Wl,-rpath,"$pc_libdir" -o "$tmp/pc_shared"
# shellcheck disable=SC2046
c++ -std=c++17 "$here/consumer/consumer.cc" $(pkg-config --cflags squeeze) \
  "$pc_libdir/libsqueeze.a" -o "$tmp/pc_static"
"$tmp/pc_shared"
"$tmp/pc_static"
readelf -d "$tmp/pc_shared" | grep -q 'NEEDED.*libsqueeze\.so' || fail "pc_shared: no libsqueeze.so"
echo "install_test: OK (find_package and pkg-config, static and shared)"
