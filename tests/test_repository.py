"""tools/repository.py: the repository's address as one setting, and the Colab cell of each notebook.

The first code cell of every chapter installs metalib when, and only when, the notebook runs on Colab
without it. Its logic is run here with Colab simulated: a ``google.colab`` module in ``sys.modules``,
no metalib, and IPython's ``%pip`` recorded instead of run.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import importlib.util

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import repository  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("[0-9]*.ipynb"))
FIND_SPEC = importlib.util.find_spec


def first_code(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(c for c in notebook["cells"] if c["cell_type"] == "code")["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_current_colab_cell(path):
    url, _ = repository.read_setting()
    assert first_code(path) == repository.colab_cell(url), (
        f"{path.name}: its first cell is not the Colab cell for repository.url = {url!r}; "
        "run: python tools/repository.py")


class FakeShell:
    """get_ipython() as the cell sees it: %pip is recorded with IPython's {name} expansion."""

    def __init__(self):
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name, line, _stack_depth=1):
        caller = sys._getframe(1).f_globals
        self.magics.append((name, line.format(**caller)))


def run_cell(url: str, on_colab: bool, has_metalib: bool, monkeypatch) -> FakeShell:
    shell = FakeShell()
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (FIND_SPEC(name, *a) if has_metalib or name != "metalib" else None))
    code = TransformerManager().transform_cell(repository.colab_cell(url))
    exec(compile(code, "<colab cell>", "exec"), {"get_ipython": lambda: shell})
    return shell


def test_on_colab_it_installs_from_the_repository(monkeypatch):
    shell = run_cell("https://github.com/someone/mapping", True, False, monkeypatch)
    assert shell.magics == [("pip", 'install --quiet "git+https://github.com/someone/mapping"')]


def test_elsewhere_or_with_metalib_present_it_does_nothing(monkeypatch):
    assert run_cell("https://github.com/someone/mapping", False, False, monkeypatch).magics == []
    assert run_cell("https://github.com/someone/mapping", True, True, monkeypatch).magics == []
    assert run_cell("", False, False, monkeypatch).magics == []


def test_on_colab_without_an_address_it_says_what_to_do(monkeypatch):
    with pytest.raises(RuntimeError, match=r"upload the course's folder to Colab, then run %pip install -e"):
        run_cell("", True, False, monkeypatch)


def test_links_built_from_the_setting():
    assert (repository.colab_url("https://github.com/o/r", "main", "assignments/student/04_maml.ipynb")
            == "https://colab.research.google.com/github/o/r/blob/main/assignments/student/04_maml.ipynb")
    assert repository.colab_url("https://gitlab.com/o/r", "main", "x.ipynb") is None
    empty = repository.substitutions("", "main")
    assert "repository.url" in empty["colab_assignments"] and "<owner>" not in empty["colab_assignments"]
    made = repository.substitutions("https://github.com/o/r", "dev")
    assert made["colab_assignments"].count("https://colab.research.google.com/github/o/r/blob/dev/") \
        == len(repository.ASSIGNMENTS) >= 6
    assert "git clone https://github.com/o/r" in made["get_the_code"]
    assert "Colab opens notebooks from GitHub only" in repository.substitutions(
        "https://gitlab.com/o/r", "main")["colab_assignments"]


def test_the_setting_switches_the_buttons():
    class Config:
        def __init__(self, url):
            self.html_theme_options = {"repository_url": url, "use_repository_button": False,
                                       "launch_buttons": {"colab_url": "https://colab.research.google.com"}}
            self.myst_substitutions = {}

    with_address = Config("https://github.com/o/r")
    repository._configure(None, with_address)
    assert with_address.html_theme_options["use_repository_button"] is True
    assert with_address.html_theme_options["launch_buttons"]
    assert "https://github.com/o/r" in with_address.myst_substitutions["get_the_code"]

    without = Config("")
    repository._configure(None, without)
    assert "repository_url" not in without.html_theme_options
    assert "launch_buttons" not in without.html_theme_options   # the theme needs an address for them
    assert "repository.url" in without.myst_substitutions["colab_assignments"]
