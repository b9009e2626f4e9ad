#!/usr/bin/env bash
# The graded assignments, for teachers: a thin wrapper around `python -m grading` in the book's .venv.
#
#   bash tools/assignments.sh generate                  assignments/student/ from the masters (commit it)
#   bash tools/assignments.sh check                     the grading tests alone (tests/test_grading_*.py)
#   bash tools/assignments.sh grade NAME PATH... [--roster CSV] [--out DIR] [--jobs N]
#                                                       grade a class's submissions (files or folders)
#   bash tools/assignments.sh gradescope NAME           the Gradescope autograder zip (assignments/dist/)
#
# Everything else: .venv/bin/python -m grading --help, and the book's teacher's guide.
# Paths are taken from where you run it (submissions/, --roster, --out).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/tools/setup.sh"
case ${1:-} in
  generate|grade|gradescope|solution)
    exec "$repo/.venv/bin/python" -m grading "$@" ;;
  check)
    shift
    cd "$repo"
    exec .venv/bin/python -m pytest tests/test_grading_*.py -n "${TEST_WORKERS:-2}" -p no:cacheprovider -q "$@" ;;
  *)
    sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
