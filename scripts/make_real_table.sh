#!/usr/bin/env bash
# Builds real trained embedding tables for squeeze-bench: word2vec (gensim, from PyPI) at dims
# 32, 64 and 128, trained on the Python 3.11 documentation sources from Debian's python3.11-doc
# (~11 MB of English technical prose). Writes data/w2v_d{32,64,128}.f32 (raw little-endian
# float32, [vocab, dim] row-major) and data/w2v_manifest.json (corpus, parameters, shapes,
# sha256). Re-runnable: does nothing when all outputs exist (FORCE=1 rebuilds). About 1-3
# minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/data"
dims="32 64 128"
done_all=1
for d in $dims; do [ -s "$out/w2v_d$d.f32" ] || done_all=0; done
[ -s "$out/w2v_manifest.json" ] || done_all=0
if [ "$done_all" = 1 ] && [ "${FORCE:-0}" != 1 ]; then
  echo "make_real_table: $out/w2v_d{32,64,128}.f32 present (FORCE=1 to rebuild)"
  exit 0
fi

pkg=python3.11-doc
corpus=/usr/share/doc/python3.11/html/_sources
if [ ! -d "$corpus" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "make_real_table: installing the corpus package $pkg"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$pkg"
fi
venv="$(bash "$root/scripts/venv.sh" gensim numpy | tail -1)"
"$venv/bin/python" "$root/scripts/w2v_tables.py" --corpus "$corpus" --package "$pkg" \
  --out "$out" --dims "$(echo $dims | tr ' ' ,)"
echo "make_real_table: wrote $out/w2v_d{32,64,128}.f32 and $out/w2v_manifest.json"
