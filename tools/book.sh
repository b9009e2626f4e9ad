#!/usr/bin/env bash
# Set up (tools/setup.sh) and build the HTML book.
# The build renders the notebooks' stored outputs (which `bash tools/test.sh` proves the current code
# reproduces); BOOK_EXECUTE=1 re-executes every notebook during the build instead. Any notebook error
# or Sphinx warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
config=()
if [[ ${BOOK_EXECUTE:-0} == 1 ]]; then
  # the notebooks run one after another here, so each kernel may use every core
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
  source tools/kernel_env.sh
  sed 's/^\(  execute_notebooks:\) "off"$/\1 force/' _config.yml > _config.execute.yml
  grep -q '^  execute_notebooks: force$' _config.execute.yml || { echo "book: could not switch execution on" >&2; exit 1; }
  trap 'rm -f _config.execute.yml' EXIT
  config=(--config _config.execute.yml)
fi
.venv/bin/jupyter-book build . --all --warningiserror --keep-going "${config[@]}"
echo "The book is in _build/html/index.html"
