#!/usr/bin/env bash
# Creates (or reuses) the project's Python virtual environment and pip-installs the packages
# given as arguments, from PyPI, into it:   scripts/venv.sh gensim numpy
# The environment lives in .venv at the repository root (git-ignored; VENV overrides the path).
# Re-runnable: packages already installed are left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "venv.sh: python3-venv is missing; run scripts/setup.sh (installs it)" >&2
    exit 1
  fi
  echo "venv.sh: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
missing=()
for pkg in "$@"; do
  name="${pkg%%[<>=!~ ]*}"
  "$venv/bin/python" -m pip show -q "$name" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "venv.sh: installing ${missing[*]}"
  "$venv/bin/python" -m pip install -q "${missing[@]}"
fi
echo "$venv"
