"""Where data lives on disk: a local folder of archives you already have, and a cache for what metalib makes.

- ``METALIB_DATA``: a folder holding data sets you downloaded yourself (Omniglot's zip archives, say).
  Nothing is fetched from the network unless a loader is called with ``download=True``.
- ``METALIB_CACHE``: where metalib keeps what it generates or downloads (default ``~/.cache/metalib``).
"""
from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import torch


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


def write_cache_file(path: Path, payload: dict, what: str) -> None:
    """``torch.save`` ``payload`` to ``path`` atomically: a temporary file beside it, renamed into place.

    A reader sees the old file, the new one or none, never half a file, even when two processes build
    the same cache at once; the file gets the user's umask. A cache that cannot be written (a read-only
    or full disk) costs a :class:`RuntimeWarning` naming ``what`` and the fix, never the data.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "xb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except OSError as error:
        warnings.warn(f"could not write the {what} cache file {path} ({error}); it will be made again next "
                      f"time. Fix: set METALIB_CACHE to a writable folder to keep it.", RuntimeWarning, stacklevel=3)
    finally:
        if temp.exists():   # False, not an error, when the folder could not be made
            temp.unlink()
