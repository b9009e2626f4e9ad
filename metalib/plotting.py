"""Small plotting helpers the chapters share, so that figures look alike across the book.

Images are shown as ink on paper (``gray_r``: ink = 1 is black), as Omniglot's characters are drawn.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .evaluation import Estimate

COLORS = {"scratch": "#999999", "pretrained": "#1f77b4", "meta": "#d62728", "truth": "#222222",
          "support": "#222222"}


def use_book_style() -> None:
    """Figure defaults for the book: modest size and resolution, light grid, no top/right spines."""
    plt.rcParams.update({
        "figure.figsize": (6.4, 3.6), "figure.dpi": 100, "savefig.dpi": 100,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "legend.frameon": False, "font.size": 10,
    })


def plot_band(ax, x: Sequence[float], estimates: Sequence[Estimate], label: str | None = None,
              color: str | None = None, marker: str = "o", **line_kwargs):
    """A line through the means of ``estimates`` with their 95% intervals as a shaded band."""
    mean = [e.mean for e in estimates]
    low = [e.low for e in estimates]
    high = [e.high for e in estimates]
    (line,) = ax.plot(x, mean, marker=marker, label=label, color=color, **line_kwargs)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def show_images(images: torch.Tensor, ncols: int | None = None, titles: Sequence[str] | None = None,
                size: float = 0.9, axes=None, suptitle: str | None = None):
    """A grid of images ``[M, H, W]`` or ``[M, 1, H, W]`` (float in [0, 1] or uint8), ink shown black."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images[:, 0]
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    m = images.shape[0]
    ncols = ncols or min(m, 10)
    nrows = -(-m // ncols)
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                                 squeeze=False)
    else:
        fig = axes.flat[0].figure
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < m:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def show_episode(episode, task: int = 0, size: float = 0.8):
    """One task of an :class:`~metalib.tasks.Episode`: a row per class, support left, queries right."""
    sx, sy = episode.support_x[task].cpu(), episode.support_y[task].cpu()
    qx, qy = episode.query_x[task].cpu(), episode.query_y[task].cpu()
    n = int(sy.max()) + 1
    k, q = len(sy) // n, len(qy) // n
    fig, axes = plt.subplots(n, k + q, figsize=(size * (k + q), size * n), squeeze=False)
    for c in range(n):
        row = torch.cat([sx[sy == c], qx[qy == c]])[:, 0]
        for j, ax in enumerate(axes[c]):
            ax.imshow(row[j], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(COLORS["meta"] if j < k else "#bbbbbb")
        axes[c, 0].set_ylabel(f"label {c}", fontsize=8)
    axes[0, 0].set_title("support", fontsize=8, loc="left")
    axes[0, k].set_title("queries", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
