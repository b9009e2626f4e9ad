#!/usr/bin/env bash
# Re-execute notebooks and store their outputs (and the widget state the HTML book needs), under the
# same settings as the test (tools/kernel_env.sh). Commit what it writes; nbval then compares
# against it. Two notebooks run side by side, one thread each.
#   bash tools/regenerate.sh book/01_mapping.ipynb        # one chapter
#   bash tools/regenerate.sh                              # every notebook in book/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
source tools/kernel_env.sh
if [[ $# -eq 0 ]]; then set -- book/*.ipynb; fi
for notebook in "$@"; do
  [[ -f $notebook && $notebook == *.ipynb ]] || { echo "regenerate: $notebook is not a notebook file" >&2; exit 1; }
done
# Work on a copy, so that a failing run leaves the stored notebook as it was.
run_one() {
  local notebook=$1 start=$SECONDS work
  work="$(dirname "$1")/.regenerate.$(basename "$1")"
  if .venv/bin/jupyter execute --timeout=1200 --output="$(basename "$work")" "$notebook" 2> "$work.log"; then
    mv "$work" "$notebook"; rm -f "$work.log"
    echo "regenerate: $notebook in $((SECONDS - start)) s"
  else
    echo "regenerate: $notebook FAILED, left unchanged; log: $work.log" >&2; rm -f "$work"; return 1
  fi
}
export -f run_one
printf '%s\n' "$@" | xargs -P "${REGENERATE_JOBS:-2}" -I{} bash -c 'run_one "$1"' _ {}
