"""The course's repository address, one setting (``repository.url`` in _config.yml), used three ways.

1. As a Sphinx extension (``sphinx: local_extensions`` in _config.yml): when the address is set, the
   pages get a repository button and a Colab button (sphinx-book-theme draws them from
   ``repository`` and ``launch_buttons``), and the substitutions ``{{ colab_assignments }}`` and
   ``{{ get_the_code }}`` become links built from it. When it is empty, there are no such buttons
   and the same substitutions say how to get the code.
2. As a command, ``python tools/repository.py``: writes the first code cell of every notebook in
   book/, which installs metalib from that address when the notebook runs on Colab
   (``tests/test_repository.py`` checks that every notebook's cell is current).
3. As a library for that test: :func:`colab_cell`, :func:`colab_url`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments" / "student").glob("*.ipynb"))
MARK = "# on Colab: install the course's package"


def read_setting() -> tuple[str, str]:
    """(url, branch) from _config.yml; the url may be empty."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repository = config.get("repository") or {}
    return (repository.get("url") or "").strip().rstrip("/"), repository.get("branch") or "main"


def colab_cell(url: str) -> str:
    """The first code cell of every notebook: on Colab, install metalib from the repository."""
    return f'''import importlib.util
import sys

REPOSITORY = "{url}"  # the course's repository: repository.url in _config.yml
if "google.colab" in sys.modules and importlib.util.find_spec("metalib") is None:
    {MARK}
    if not REPOSITORY:
        raise RuntimeError("this notebook needs the course's package, metalib: "
                           "upload the course's folder to Colab, then run "
                           "%pip install -e <folder>")
    %pip install --quiet "git+{{REPOSITORY}}"'''


def colab_url(url: str, branch: str, path: str) -> str | None:
    """Colab's address for a notebook of a GitHub repository; None for any other host."""
    prefix = "https://github.com/"
    if not url.startswith(prefix) or len(url[len(prefix):].split("/")) != 2:
        return None
    return f"https://colab.research.google.com/github/{url[len(prefix):]}/blob/{branch}/{path}"


def substitutions(url: str, branch: str) -> dict[str, str]:
    """The Markdown the pages show for {{ colab_assignments }} and {{ get_the_code }}."""
    if not url:
        return {
            "colab_assignments": "Once the course's repository is published and its address is set "
                                 "as `repository.url` in `_config.yml`, this page lists a link that "
                                 "opens each assignment in Colab.",
            "get_the_code": "Get the course's folder from whoever gave you this book (its address "
                            "goes in `repository.url` in `_config.yml`, which adds launch buttons "
                            "to every chapter).",
        }
    links = [(name, colab_url(url, branch, f"assignments/student/{name}")) for name in ASSIGNMENTS]
    if all(link for _, link in links):
        listed = ", ".join(f"[{name}]({link})" for name, link in links)
        colab = f"These links open each assignment in Colab: {listed}."
    else:
        colab = "Colab opens notebooks from GitHub only; this repository is elsewhere."
    return {"colab_assignments": colab,
            "get_the_code": f"Clone [the course's repository]({url}) (`git clone {url}`)."}


def _configure(app, config) -> None:
    options = config.html_theme_options if isinstance(config.html_theme_options, dict) else {}
    url = (options.get("repository_url") or "").strip().rstrip("/")
    if url:   # jupyter-book's defaults switch the button off; the address switches it on
        options["use_repository_button"] = True
    else:   # no address: no repository or launch buttons (the theme needs an address for both)
        options.pop("repository_url", None)
        options.pop("launch_buttons", None)
    branch = options.get("repository_branch") or "main"
    config.myst_substitutions = {**(config.myst_substitutions or {}), **substitutions(url, branch)}


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def write_cells() -> list[str]:
    """Put the current colab_cell first in every notebook of book/; returns the notebooks changed."""
    url, _ = read_setting()
    changed = []
    for path in sorted((ROOT / "book").glob("[0-9]*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        source = colab_cell(url).splitlines(keepends=True)
        if code and MARK in "".join(code[0]["source"]):
            if code[0]["source"] == source:
                continue
            code[0]["source"] = source
        else:
            first = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
            notebook["cells"].insert(first, {"cell_type": "code", "execution_count": None,
                                             "id": f"colab{first:03d}", "metadata": {"tags": ["hide-input"]},
                                             "outputs": [], "source": source})
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        changed.append(path.name)
    return changed


if __name__ == "__main__":
    done = write_cells()
    print("updated:", ", ".join(done) if done else "nothing (every notebook is current)")
    sys.exit(0)
