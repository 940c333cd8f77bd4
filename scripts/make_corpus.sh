#!/usr/bin/env bash
# Builds the trained-DLRM all-to-all payload corpus (tools/corpus/README.md):
#   scripts/make_corpus.sh                     # data/corpus/, all configurations, ~1 h on 2 cores
#   scripts/make_corpus.sh --configs d64 --scale quick --out /tmp/corpus   # a few minutes
# Creates the project's virtual environment (.venv, torch and numpy from PyPI, ~5 GB with torch's
# CUDA wheels) on first use; arguments go to tools/corpus/make_corpus.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$root/scripts/venv.sh" torch numpy | tail -n 1)"
exec "$venv/bin/python" "$root/tools/corpus/make_corpus.py" "$@"
