"""Sliders over a figure that respond in Jupyter and in a static web page alike.

``interact(draw, K=IntSlider(...), html={"K": [1, 5, 10]})`` shows one output with two forms:

- in Jupyter (or Colab), ipywidgets' live ``interactive``: every slider value redraws the figure with
  the running kernel;
- in a page built from the stored notebook, where no kernel runs, a small HTML control over figures
  drawn in advance: one PNG for every combination of the values listed in ``html`` (a coarser grid
  than the live sliders allow), and range inputs that swap between them.

Both forms travel in one display bundle (``application/vnd.jupyter.widget-view+json`` and
``text/html``). Jupyter renders the widget; the book's ``_config.yml`` tells myst-nb to render the
HTML form instead (``nb_mime_priority_overrides``).
"""
from __future__ import annotations

import base64
import html as html_escape
import io
import itertools
import json
from typing import Callable, Sequence
from unittest import mock

import matplotlib.pyplot as plt
from PIL import Image


def draw_png(draw: Callable[..., object], **values) -> bytes:
    """Call ``draw(**values)`` and return the figure it drew as PNG bytes (``plt.show`` held back).

    The PNG has a palette of 256 colours, a third of the size of matplotlib's RGBA PNG for a line
    plot, so that a page can carry dozens of frames.
    """
    before = set(plt.get_fignums())
    with mock.patch.object(plt, "show", lambda *args, **kwargs: None):
        draw(**values)
    new = [n for n in plt.get_fignums() if n not in before]
    if len(new) != 1:
        for n in new:
            plt.close(n)
        raise ValueError(f"draw({values}) must draw exactly one new matplotlib figure; it drew {len(new)}")
    figure = plt.figure(new[0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small = io.BytesIO()
    image.save(small, format="PNG", optimize=True)
    return small.getvalue()


def frames(draw: Callable[..., object], grid: dict[str, Sequence]) -> list[bytes]:
    """One PNG per combination of ``grid``'s values, the last name varying fastest."""
    names = list(grid)
    return [draw_png(draw, **dict(zip(names, combo)))
            for combo in itertools.product(*(list(grid[name]) for name in names))]


_PLAYER_JS = """
(function () {
  var box = document.currentScript.previousElementSibling;
  var data = JSON.parse(box.getAttribute("data-frames"));
  var inputs = box.querySelectorAll("input[type=range]");
  var image = box.querySelector("img");
  function show() {
    var index = 0;
    inputs.forEach(function (input, i) {
      var k = Number(input.value);
      index = index * data.sizes[i] + k;
      input.nextElementSibling.textContent = data.labels[i][k];
    });
    image.src = "data:image/png;base64," + data.frames[index];
  }
  inputs.forEach(function (input) { input.addEventListener("input", show); });
  show();
})();
"""


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def player_html(draw: Callable[..., object], grid: dict[str, Sequence], start: dict[str, object],
                descriptions: dict[str, str] | None = None) -> str:
    """The static form: a range input per name of ``grid`` over the figures drawn for its values.

    ``start`` gives each control's first value (the nearest listed value is used).
    """
    descriptions = descriptions or {}
    values = {name: list(vals) for name, vals in grid.items()}
    for name, vals in values.items():
        if not vals:
            raise ValueError(f"html={{{name!r}: []}}: give at least one value for {name!r}")
    pngs = frames(draw, values)
    rows = []
    for name, vals in values.items():
        first = start.get(name, vals[0])
        k = min(range(len(vals)), key=lambda i: _distance(vals[i], first))
        text = html_escape.escape(descriptions.get(name) or name)
        rows.append(
            f'<label class="metalib-control"><span>{text}</span> '
            f'<input type="range" min="0" max="{len(vals) - 1}" step="1" value="{k}" '
            f'aria-label="{text}" data-name="{html_escape.escape(name)}">'
            f'<output></output></label>')
    data = {"sizes": [len(v) for v in values.values()],
            "labels": [[_label(x) for x in v] for v in values.values()],
            "frames": [base64.b64encode(png).decode("ascii") for png in pngs]}
    return (f'<div class="metalib-controls" data-frames="{html_escape.escape(json.dumps(data))}">'
            f'<div class="metalib-control-row">{"".join(rows)}</div>'
            f'<img alt="figure for the chosen values" src="data:image/png;base64,{data["frames"][0]}">'
            f"</div><script>{_PLAYER_JS}</script>")


def _distance(a, b) -> float:
    try:
        return abs(float(a) - float(b))
    except (TypeError, ValueError):
        return 0.0 if a == b else 1.0


def interact(draw: Callable[..., object], *, html: dict[str, Sequence], **sliders):
    """Live sliders in Jupyter, and figures drawn for every value combination of ``html`` for the book.

    Args:
        draw: draws one matplotlib figure from keyword arguments (it may call ``plt.show()``).
        html: for each slider's name, the values the static page offers (every combination is drawn).
        **sliders: ipywidgets controls, as for ``ipywidgets.interact``.

    Returns:
        the ``ipywidgets.interactive`` object (its ``.children`` are the live controls).
    """
    import ipywidgets
    from IPython.display import display

    unknown = sorted(set(html) - set(sliders))
    missing = sorted(set(sliders) - set(html))
    if unknown or missing:
        raise ValueError(f"html must list values for exactly the sliders {sorted(sliders)}: "
                         f"unknown {unknown}, missing {missing}")
    live = ipywidgets.interactive(draw, **sliders)
    start = {name: getattr(slider, "value", None) for name, slider in sliders.items()}
    descriptions = {name: getattr(slider, "description", "") or name for name, slider in sliders.items()}
    bundle = dict(live._repr_mimebundle_())
    bundle["text/html"] = player_html(draw, html, start, descriptions)
    display(bundle, raw=True)
    return live
