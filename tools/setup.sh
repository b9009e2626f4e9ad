#!/usr/bin/env bash
# Create .venv and install the book's pinned environment from requirements.txt + constraints.txt.
# Re-installs only when one of those files (or pyproject.toml) changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
stamp=.venv/.installed
want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt -c constraints.txt
# WordLlama's token embeddings (chapter 7's few-shot text): metalib reads the files inside the wheel;
# the package itself is not installed, since it needs numpy 2.
.venv/bin/python -m pip download --quiet --no-deps --dest .venv/wheels wordllama==0.4.0.post1
echo "$want" > "$stamp"
