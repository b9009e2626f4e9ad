"""Draw the course map of the intro (book/_static/course-map.svg): the chapters and what each
builds on. Run it after changing the chapters: ``.venv/bin/python tools/course_map.py``.
tests/test_course_map.py checks that the stored SVG is the one this script draws."""
from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "book" / "_static" / "course-map.svg"
BOXES = {   # name: (x, y, text)
    "1": (3.9, 4.0, "1  Everything is a mapping\nlearners as mappings"),
    "2": (1.3, 2.7, "2  Multi-task, transfer\nsharing, conflicts"),
    "3": (3.9, 2.7, "3  Metric-based\nembed and compare"),
    "4": (6.5, 2.7, "4  Optimization-based\nMAML and relatives"),
    "5": (5.2, 1.4, "5  Model-based\nlearners as networks"),
    "5b": (7.6, 1.4, "5b  Neural processes,\ntask embeddings"),
    "6": (2.0, 1.4, "6  Domain adaptation\nwhen test data shift"),
    "7": (6.4, 0.15, "7  Applications and tools\nmeta-RL, libraries"),
    "8": (2.6, 0.15, "8  Questions, answered\nby short runs"),
}
EDGES = [("1", "2"), ("1", "3"), ("1", "4"), ("3", "5"), ("4", "5"), ("5", "5b"), ("2", "6"),
         ("3", "6"), ("4", "6"), ("4", "7"), ("5", "7"), ("6", "8"), ("5", "8")]
W, H = 2.2, 0.72


def draw() -> str:
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "course-map",
                         "font.family": "DejaVu Sans"})
    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    ax.set(xlim=(0.1, 8.8), ylim=(-0.3, 4.45))
    ax.axis("off")
    for a, b in EDGES:
        (xa, ya, _), (xb, yb, _) = BOXES[a], BOXES[b]
        start = (xa, ya - H / 2) if ya > yb else (xa + W / 2, ya)
        end = (xb, yb + H / 2) if ya > yb else (xb - W / 2, yb)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="->", color="#555555", lw=1.2, shrinkA=0, shrinkB=2))
    for name, (x, y, text) in BOXES.items():
        color = "#d62728" if name in ("4", "5", "5b", "3") else "#1f77b4" if name in ("2", "6") else "#555555"
        ax.add_patch(plt.Rectangle((x - W / 2, y - H / 2), W, H, facecolor=color, alpha=0.12,
                                   edgecolor=color, lw=1.3))
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5)
    ax.text(8.75, 4.3, "an arrow points from a chapter\nto one that builds on it",
            fontsize=9, color="#555555", va="top", ha="right")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    # matplotlib writes random ids unless hashsalt is set; drop its version comment too
    return re.sub(r"<!-- Created with matplotlib.*?-->\n", "", buffer.getvalue())


if __name__ == "__main__":
    OUT.write_text(draw(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(OUT.parents[2])}")
