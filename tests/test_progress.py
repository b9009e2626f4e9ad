"""metalib.progress: the line a progress bar leaves behind, and how the notebook tests read it."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

import metalib.progress as progress
from metalib.progress import Progress, steps_text

ROOT = Path(__file__).resolve().parents[1]


def sanitise(text: str) -> str:
    """tests/nbval_sanitize.cfg's rules, applied as nbval applies them."""
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


def test_steps_text():
    assert steps_text("MAML", 0, 2000) == "MAML: 0/2000 steps"
    assert steps_text("MAML", 2000, 2000, 41.26) == "MAML: 2000/2000 steps in 41.3 s"


def test_the_notebook_tests_read_the_first_and_the_last_line_alike():
    first, last = steps_text("MAML K=10", 0, 1200), steps_text("MAML K=10", 1200, 1200, 9.87)
    assert sanitise(first) == sanitise(last) == "MAML K=10: N/1200 steps"
    assert sanitise(steps_text("MAML", 0, 300)) != sanitise(last)   # another length still differs


def test_outside_jupyter_it_is_a_text_bar(capsys):
    bar = Progress(3, "demo", show=True)
    for _ in range(3):
        bar.update()
    bar.set_postfix(loss="0.1")
    bar.close()
    assert bar.bar.n == 3 and bar._handle is None
    assert "demo" in capsys.readouterr().err


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, data, raw=False):
        self.updates.append(data)


def test_in_jupyter_the_widget_leaves_its_finished_line(monkeypatch):
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as notebook_tqdm

    shown, handle = [], FakeHandle()

    def display(data, raw=False, display_id=None):
        shown.append(data)
        return handle

    monkeypatch.setattr(progress, "auto_tqdm", notebook_tqdm)
    monkeypatch.setattr("IPython.display.display", display)
    bar = Progress(4, "MAML", show=True)
    assert shown[0]["text/plain"] == "MAML: 0/4 steps"
    assert "application/vnd.jupyter.widget-view+json" in shown[0]
    for _ in range(4):
        bar.update()
    bar.close()
    (final,) = handle.updates
    assert re.fullmatch(r"MAML: 4/4 steps in \d+\.\d s", final["text/plain"])
    assert final["application/vnd.jupyter.widget-view+json"] == shown[0]["application/vnd.jupyter.widget-view+json"]
