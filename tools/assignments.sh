#!/usr/bin/env bash
# The graded assignments (assignments/*.ipynb, otter-grader masters), for teachers and CI.
#
#   bash tools/assignments.sh generate            otter assign every master into assignments/dist/<name>/
#                                                 (student/ and autograder/ with the Gradescope zip), and
#                                                 copy the student notebooks to assignments/student/, which
#                                                 the book offers for download (commit them)
#   bash tools/assignments.sh check               CI's assignment step: tests/test_assignments.py in the
#                                                 teacher environment (every master passes its hidden tests,
#                                                 every student notebook runs up to its stubs and scores 0,
#                                                 the solution scores full marks, assignments/student/ is current)
#   bash tools/assignments.sh grade NAME FILE...   grade submissions of assignment NAME with otter run (no
#                                                 Docker), one results folder per submission path
#                                                 (graded/alice__04_maml/), a score table
#
# otter-grader lives only in .venv-teacher, never in the readers' .venv: .venv-teacher sees the book's
# .venv (torch, metalib; one line in its site-packages) and adds otter and what it needs, pinned by
# constraints-teacher.txt (about 120 MB, 15 s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
teacher=.venv-teacher
stamp=$teacher/.installed
want=$(cat constraints.txt constraints-teacher.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  [[ -x $teacher/bin/python ]] || "${PYTHON:-python3.11}" -m venv "$teacher"
  book_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  teacher_site=$("$teacher/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$book_site')" > "$teacher_site/book_environment.pth"
  "$teacher/bin/python" -m pip install --quiet "otter-grader[grading]==7.0.0" \
    -c constraints.txt -c constraints-teacher.txt
  echo "$want" > "$stamp"
fi
python=$teacher/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
case ${1:-} in
  generate)
    for master in assignments/*.ipynb; do
      name=$(basename "$master" .ipynb)
      rm -rf "assignments/dist/$name"
      echo "=== otter assign $master"
      "$python" -m otter assign "$master" "assignments/dist/$name"
      cp "assignments/dist/$name/student/$name.ipynb" assignments/student/
    done
    echo "Student notebooks: assignments/student/; autograder zips: assignments/dist/*/autograder/*.zip"
    ;;
  check)
    "$python" -m pytest tests/test_assignments.py -n "${TEST_WORKERS:-2}" -p no:cacheprovider -q
    ;;
  grade)
    [[ $# -ge 3 ]] || { echo "usage: bash tools/assignments.sh grade NAME SUBMISSION.ipynb..." >&2; exit 2; }
    name=$2; shift 2
    zips=(assignments/dist/"$name"/autograder/*.zip)
    [[ -f ${zips[0]} ]] || { echo "no autograder for $name: run bash tools/assignments.sh generate first" >&2; exit 1; }
    for submission in "$@"; do
      # one folder per submission path: alice/04_maml.ipynb and bob/04_maml.ipynb stay apart
      key=${submission%.ipynb}; key=${key#./}; key=${key#/}
      out=assignments/dist/$name/graded/${key//\//__}
      mkdir -p "$out"
      "$python" -m otter run -a "${zips[-1]}" -o "$out" "$submission" > "$out/log.txt" 2>&1 || true
      "$python" -c 'import json, sys
tests = json.load(open(sys.argv[1]))["tests"]
score, top = (sum(t.get(key) or 0 for t in tests) for key in ("score", "max_score"))
print(f"{sys.argv[2]}\t{score:g} / {top:g}")' "$out/results.json" "$submission" \
        || echo "$submission	not graded: see $out/log.txt"
    done
    ;;
  *)
    sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
