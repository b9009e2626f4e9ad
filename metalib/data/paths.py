"""Where data lives on disk: a local folder of archives you already have, and a cache for what metalib makes.

- ``METALIB_DATA``: a folder holding data sets you downloaded yourself (Omniglot's zip archives, say).
  Nothing is fetched from the network unless a loader is called with ``download=True``.
- ``METALIB_CACHE``: where metalib keeps what it generates or downloads (default ``~/.cache/metalib``).
"""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path | None:
    """The folder named by ``METALIB_DATA``, or None when it is not set."""
    value = os.environ.get("METALIB_DATA")
    return Path(value).expanduser() if value else None


def cache_dir(*parts: str) -> Path:
    """``METALIB_CACHE`` (default ``~/.cache/metalib``) joined with ``parts``, created if missing."""
    root = Path(os.environ.get("METALIB_CACHE") or Path.home() / ".cache" / "metalib").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
