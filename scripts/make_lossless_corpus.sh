#!/usr/bin/env bash
# Builds the lossless corpus (tools/corpus/LOSSLESS.md): the int64 ids and int32 lengths of the
# DLRM's KJT all-to-all and the bf16 / f16 / f32 pipeline-boundary tensors of a small transformer.
#   scripts/make_lossless_corpus.sh                  # data/lossless/, both parts, ~5 min on 2 cores
#   scripts/make_lossless_corpus.sh --parts lm --stats --out /tmp/lossless
# Creates the project's virtual environment (.venv, torch and numpy from PyPI) on first use, as
# scripts/make_corpus.sh does (VENV=... reuses another one); one thread (OMP_NUM_THREADS=1);
# arguments go to tools/corpus/make_lossless_corpus.py. Re-runnable: it rewrites its own files and
# keeps the manifest entries of a part it does not run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$root/scripts/venv.sh" torch numpy | tail -n 1)"
export OMP_NUM_THREADS=1
exec "$venv/bin/python" "$root/tools/corpus/make_lossless_corpus.py" "$@"
