"""A progress bar that leaves a line of text behind: live in Jupyter, readable in a static page.

In a Jupyter kernel the bar is tqdm's widget, displayed with a display id, and its plain-text
alternative is the line ``"<desc>: <n>/<total> steps"``. When the bar closes, that output is updated
in place: the widget shows the finished bar, and the text becomes ``"<desc>: 2000/2000 steps in
41.3 s"``. A page built from the stored notebook (the HTML book renders the text, not the widget)
therefore shows what ran and how long it took, not a bar frozen at 0%. Outside Jupyter it is tqdm's
ordinary text bar on stderr.

Test runners that do not apply display updates (nbval) see the first line, ``"... 0/2000 steps"``;
``tests/nbval_sanitize.cfg`` reads both forms as the same step count.
"""
from __future__ import annotations

import time

from tqdm.auto import tqdm as auto_tqdm
from tqdm.notebook import tqdm as notebook_tqdm


def steps_text(desc: str, done: int, total: int, seconds: float | None = None) -> str:
    """The plain-text form of a bar: ``"MAML: 120/2000 steps"``, with the time once it has closed."""
    text = f"{desc}: {done}/{total} steps"
    return text if seconds is None else f"{text} in {seconds:.1f} s"


class Progress:
    """``Progress(total, desc, show)``: ``update()``, ``set_postfix(...)`` and ``close()``, as tqdm's."""

    def __init__(self, total: int, desc: str, show: bool = True):
        self.total, self.desc = total, desc
        self._start = time.perf_counter()
        self._handle = None
        in_jupyter = show and issubclass(auto_tqdm, notebook_tqdm)
        if in_jupyter:
            self.bar = auto_tqdm(total=total, desc=desc, leave=True, display=False)
            from IPython.display import display

            self._handle = display(self._bundle(done=0), raw=True, display_id=True)
        else:
            self.bar = auto_tqdm(total=total, desc=desc, leave=True, disable=not show)

    def _bundle(self, done: int, seconds: float | None = None) -> dict:
        data = dict(self.bar.container._repr_mimebundle_())
        data["text/plain"] = steps_text(self.desc, done, self.total, seconds)
        return data

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_postfix(self, **values) -> None:
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()
        if self._handle is not None:
            self._handle.update(self._bundle(self.bar.n, time.perf_counter() - self._start), raw=True)
            self._handle = None
