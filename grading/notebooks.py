"""Notebooks: the student notebook made from a master, and a submission's code read as data.

A master, `assignments/NN_name.ipynb`, is the notebook students get, with the solutions in it:
inside a code cell, the lines between `# BEGIN SOLUTION` and `# END SOLUTION` comments become
`...` in the student notebook. Cells tagged `setup` hold what the questions build on (the network,
the loss); the judge runs them again before each question. Links to the book's pages
(`../book/...`) are made absolute (the book's address from `_config.yml`'s `html.baseurl`) or,
without an address, left as plain text, so that nothing breaks in a downloaded notebook.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path


MAX_NOTEBOOK_BYTES = 50 * 2**20
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
LINK = re.compile(r"\[([^\]]+)\]\((\.\./book/[^)\s]+)\)")


class NotANotebook(ValueError):
    """The submission cannot be read as a Jupyter notebook."""


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(index, source) of every code cell of the notebook at `path`, in order; index counts all cells."""
    path = Path(path)
    if path.suffix != ".ipynb":
        raise NotANotebook(f"{path.name} is not a .ipynb file: hand in the notebook itself "
                           "(Jupyter: File > Download; Colab: File > Download > Download .ipynb)")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotANotebook(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB: clear its outputs "
                           "(Edit > Clear outputs of all cells) and hand it in again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cells = data["cells"]
        out = []
        for index, cell in enumerate(cells):
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if not isinstance(source, str):
                raise TypeError("a cell's source is not text")
            out.append((index, source))
        return out
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise NotANotebook(f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc}); "
                           "open it in Jupyter or Colab, save it, and hand in the .ipynb file") from None


def written_answers(path: Path) -> dict[str, str]:
    """{question: text} of the Markdown cells tagged `written` (answers a teacher grades by hand)."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    answers = {}
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
        if cell.get("cell_type") == "markdown" and "written" in meta.get("tags", []):
            source = cell.get("source", "")
            answers[str(meta.get("question"))] = "".join(source) if isinstance(source, list) else str(source)
    return answers


def setup_cells(master: Path) -> list[str]:
    """The sources of the master's cells tagged `setup`."""
    cells = json.loads(Path(master).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code" and "setup" in c.get("metadata", {}).get("tags", [])]


def strip_solutions(source: str) -> str:
    """The source with each `# BEGIN SOLUTION` ... `# END SOLUTION` block replaced by `...`."""
    out, inside = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN}")
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + "...")
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def book_links(text: str, base_url: str) -> str:
    """Links to the book's pages made absolute (base_url) or plain text (no base_url)."""
    def replace(match):
        label, target = match.groups()
        if not base_url:
            return label
        page = target.removeprefix("../").replace(".ipynb", ".html").replace(".md", ".html")
        return f"[{label}]({base_url.rstrip('/')}/{page})"
    return LINK.sub(replace, text)


def student_notebook(master: Path, base_url: str = ""):
    """The notebook students get: solutions stripped, outputs cleared, book links that work anywhere."""
    import nbformat

    nb = nbformat.read(master, as_version=4)
    student = copy.deepcopy(nb)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = book_links(cell.source, base_url)
    student.metadata = {"kernelspec": nb.metadata.get("kernelspec", {"display_name": "Python 3",
                                                                     "language": "python", "name": "python3"}),
                        "language_info": {"name": "python"},
                        "grading": {"assignment": master.stem}}
    return student


def solution_notebook(master: Path):
    """The master with its solutions in place and the markers removed (what full marks look like)."""
    import nbformat

    nb = nbformat.read(master, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in cell.source.split("\n")
                                    if line.strip() not in (BEGIN, END))
    return nb
