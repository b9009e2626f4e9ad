"""metalib.controls: the frames drawn in advance for a figure's sliders, and the HTML that shows them."""
from __future__ import annotations

import base64
import html
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from metalib.controls import draw_png, frames, interact, player_html  # noqa: E402


def line(a=1, b=0):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [b, a])
    ax.set_title(f"a={a} b={b}")
    plt.show()   # held back while frames are drawn


def decode(png: bytes) -> Image.Image:
    import io
    return Image.open(io.BytesIO(png))


def test_draw_png_returns_the_figure_and_closes_it():
    before = plt.get_fignums()
    png = draw_png(line, a=2, b=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode(png).mode == "P"            # a 256-colour palette keeps pages small
    assert plt.get_fignums() == before


def test_draw_png_needs_exactly_one_new_figure():
    with pytest.raises(ValueError, match="exactly one new matplotlib figure; it drew 0"):
        draw_png(lambda: None)

    def two():
        plt.figure()
        plt.figure()
    with pytest.raises(ValueError, match="it drew 2"):
        draw_png(two)
    assert plt.get_fignums() == []


def test_frames_cover_every_combination_last_name_fastest():
    grid = {"a": [1, 2], "b": [0, 1, 2]}
    pngs = frames(line, grid)
    assert len(pngs) == 6
    assert pngs[1] == draw_png(line, a=1, b=1)     # index = i_a * 3 + i_b
    assert pngs[3] == draw_png(line, a=2, b=0)
    assert len(set(pngs)) == 6


def player_data(page: str) -> dict:
    attribute = re.search(r'data-frames="([^"]*)"', page).group(1)
    return json.loads(html.unescape(attribute))


def test_player_html_has_a_range_per_control_starting_at_the_nearest_value():
    page = player_html(line, {"a": [1, 2, 4], "b": [0.5, 1.5]}, start={"a": 3.9, "b": 0.5},
                       descriptions={"a": "amplitude <A>"})
    inputs = re.findall(r'<input type="range" min="0" max="(\d+)" step="1" value="(\d+)"', page)
    assert inputs == [("2", "2"), ("1", "0")]       # a starts at 4 (nearest 3.9), b at 0.5
    assert "amplitude &lt;A&gt;" in page
    data = player_data(page)
    assert data["sizes"] == [3, 2] and data["labels"] == [["1", "2", "4"], ["0.5", "1.5"]]
    assert len(data["frames"]) == 6
    assert base64.b64decode(data["frames"][5]) == draw_png(line, a=4, b=1.5)
    assert "<script>" in page and "addEventListener(\"input\"" in page


def test_player_html_refuses_an_empty_list():
    with pytest.raises(ValueError, match="give at least one value for 'b'"):
        player_html(line, {"a": [1], "b": []}, start={})


def test_interact_needs_values_for_exactly_its_sliders(capsys):
    from ipywidgets import IntSlider

    with pytest.raises(ValueError, match=r"unknown \['c'\], missing \['b'\]"):
        interact(line, a=IntSlider(1), b=IntSlider(0), html={"a": [1], "c": [0]})
    live = interact(line, a=IntSlider(value=2, min=0, max=4), b=IntSlider(0), html={"a": [0, 2], "b": [0]})
    assert [w.value for w in live.kwargs_widgets] == [2, 0]
