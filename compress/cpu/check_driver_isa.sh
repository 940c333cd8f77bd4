#!/usr/bin/env bash
# staged_driver_avx2.cc builds the staged driver for AVX2, BMI1/2, LZCNT and POPCNT, and only
# the driver: any function it emits that the linker may share with other files (a header's inline
# function, a template instantiation: global or weak symbols) must be built for any x86-64, or
# the scalar backend could run it on a CPU without those instructions. Arguments: the codec's
# object files. Fails if such a symbol holds a VEX instruction or one of BMI1/2, LZCNT or POPCNT
# (TZCNT is allowed: it is REP BSF, which compilers emit for any x86-64), and if the driver's own
# code holds none of them (the target did not apply, and the check would prove nothing).
set -euo pipefail
obj=""
for f in "$@"; do
  case "$f" in *staged_driver_avx2.cc.o) obj="$f" ;; esac
done
# (The symbol table is read whole before it is searched: grep -q would stop reading early, and
# nm's broken pipe would fail the pipeline.)
if [ -z "$obj" ] || ! nm "$obj" | grep kStagedDriverAvx2 >/dev/null; then
  echo "no AVX2 staged driver in this build (not x86-64): nothing to check"
  exit 77
fi
target='^(v[a-z0-9]+|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|popcnt)$'
# One disassembly of the whole object: "<symbol>:" heads each function, then its instructions.
listing=$(objdump -d --no-show-raw-insn "$obj")
shared=$(nm --defined-only "$obj" | awk '$2 ~ /^[TWVui]$/ {print $3}')
report=$(awk -v target="$target" -v shared="$shared" '
  BEGIN { n = split(shared, s, "\n"); for (i = 1; i <= n; ++i) is_shared[s[i]] = 1 }
  /^[0-9a-f]+ <.*>:$/ { sym = substr($2, 2, length($2) - 3); next }
  /^ +[0-9a-f]+:/ {
    if ($2 ~ target) {
      if (!(sym in is_shared)) ++own
      else if (index(bad[sym] " ", " " $2 " ") == 0) bad[sym] = bad[sym] " " $2
    }
  }
  END {
    for (f in bad) print "shared symbol " f " holds target instructions:" bad[f]
    print "own " own + 0 " shared " n
  }' <<<"$listing")
status=0
if grep -q "^shared symbol" <<<"$report"; then
  grep "^shared symbol" <<<"$report"
  status=1
fi
own=$(awk '/^own / {print $2}' <<<"$report")
n=$(awk '/^own / {print $4}' <<<"$report")
if [ "$own" -eq 0 ]; then
  echo "the driver's code holds no AVX2 / BMI instruction: was it built for its target?"
  status=1
fi
[ $status -eq 0 ] && echo "driver ISA ok: $n shared symbols built for any x86-64; $own target instructions in the driver"
exit $status
