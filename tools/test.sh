#!/usr/bin/env bash
# metalib's unit tests, nbval over every notebook (each executed once, and its outputs compared with
# the stored ones: exactly, or within the tolerance of tests/nbval_tolerance.py in cells tagged
# nbval-approx), and every built page in headless Chromium.
# Runs on TEST_WORKERS pytest-xdist workers (default 2, one notebook per worker) with OMP_NUM_THREADS
# threads per kernel (default 1; tools/kernel_env.sh). Extra arguments go to pytest, e.g.
# `bash tools/test.sh tests/test_tasks.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/ensure_chromium.sh
source tools/kernel_env.sh
if [[ $# -eq 0 ]]; then set -- tests book; fi
workers=(-n "${TEST_WORKERS:-2}" --dist loadscope)
[[ ${TEST_WORKERS:-2} == 0 ]] && workers=()
# pytest exits 5 when it collected nothing; that is a failure here, as is every other non-zero code.
.venv/bin/python -m pytest "$@" "${workers[@]}" --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --durations=12 -p no:cacheprovider
