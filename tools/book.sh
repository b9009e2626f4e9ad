#!/usr/bin/env bash
# Set up (tools/setup.sh), fetch the widget scripts (tools/fetch_js.sh) and build the HTML book with
# every notebook executed. Any notebook error or Sphinx warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/fetch_js.sh
.venv/bin/jupyter-book build . --all --warningiserror --keep-going
echo "The book is in _build/html/index.html"
