"""Grading the course's assignments safely and fairly (see book/teachers_guide.md).

- `notebooks`: the student notebook made from a master; a submission's code cells read as data.
- `sandbox`: the confined process a submission runs in (namespaces or the user nobody, limits).
- `runner`: what runs in there: the cells, then each question's probe; data out, one line each.
- `codec`: the data format between the two (JSON; tensors checked on the way back).
- `judge`: one submission graded against the hidden tests in `assignments/hidden/`.
- `classroom`: many submissions, a roster, and the CSV files an LMS imports.
- `gradescope`: the autograder zip, which runs this same package.

Command line: `python -m grading --help`.
"""

try:   # metalib, where installed, sets torch's thread-waiting policy; it must come before torch
    import metalib  # noqa: F401
except ImportError:
    pass
