#!/usr/bin/env bash
# metalib's unit tests, nbval over every notebook, and every built page in headless Chromium.
# Extra arguments go to pytest, e.g. `bash tools/test.sh tests/test_tasks.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/ensure_chromium.sh
if [[ $# -eq 0 ]]; then set -- tests book; fi
# pytest exits 5 when it collected nothing; that is a failure here, as is every other non-zero code.
.venv/bin/python -m pytest "$@" --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
