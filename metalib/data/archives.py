"""Archives of real data sets: find them on disk, download them only when asked, check them, unpack them safely.

A data set that metalib does not generate (Omniglot, say) comes as zip archives published by its
authors. Each one is described by an :class:`Archive` record (file name, official URL, SHA-256 and size)
and obtained with :func:`fetch`, which

1. looks for the file in the folder you pass, then in ``METALIB_DATA`` (and its subfolder named after
   the data set), then in metalib's cache (``METALIB_CACHE``, see :mod:`metalib.data.paths`);
2. if it is nowhere and ``download=True``, downloads it from the official URL into the cache (into a
   temporary file that is checked before it is renamed into place, so no half file is ever left);
   without ``download=True`` nothing touches the network and the error says where it looked and
   how to get the file;
3. checks the file's SHA-256 against the record, so a truncated, corrupt or different file is an
   error that names the file, both hashes and the fix, never a silent wrong result.

:func:`read_members` and :func:`extract` open a zip archive without trusting it: a member whose name
is absolute, contains ``..``, is a symbolic link or a device, or would land outside the target folder
is refused before anything is written; :func:`extract` unpacks into a temporary folder that is renamed
into place only when every member has been read and CRC-checked, and a damaged archive is an error that
names the file and the fix.

Example::

    from metalib.data.archives import Archive, fetch, extract
    record = Archive("images_background_small1.zip",
                     "https://github.com/brendenlake/omniglot/raw/master/python/images_background_small1.zip",
                     "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4", 1319022, "omniglot")
    path = fetch(record)                    # METALIB_DATA or the cache; an error that says how to get it
    path = fetch(record, download=True)     # downloads once, into the cache, if it is not on disk
    folder = extract(path, path.with_suffix(""))
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from .paths import cache_dir, data_dir

CHUNK = 1 << 20
"""Bytes read at a time when hashing and downloading."""

DOWNLOAD_TIMEOUT_S = 60.0
"""Seconds a download may wait for the server before it fails."""


# ---------------------------------------------------------------------------------------------------
# Errors: every one names the file and says what to do
# ---------------------------------------------------------------------------------------------------
class ArchiveError(Exception):
    """Base of every error this module raises about an archive."""


class ArchiveMissingError(ArchiveError, FileNotFoundError):
    """The archive is on disk nowhere metalib looks, and downloading was not asked for."""


class ChecksumError(ArchiveError, ValueError):
    """A file's SHA-256 differs from the published one (a truncated, corrupt or different file)."""


class CorruptArchiveError(ArchiveError, ValueError):
    """The zip file cannot be read: not a zip, truncated, or a member fails its CRC check."""


class UnsafeArchiveError(ArchiveError, ValueError):
    """A member of the zip would be written outside the target folder, or is a link or a device."""


class DownloadError(ArchiveError, OSError):
    """The download itself failed (no network, server error)."""


# ---------------------------------------------------------------------------------------------------
# Records, hashes, finding and downloading
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Archive:
    """One published archive.

    Args:
        name: its file name, e.g. ``"images_background.zip"``.
        url: where its authors publish it.
        sha256: the hex SHA-256 of the published file.
        size: its size in bytes (checked while downloading, and shown in errors).
        dataset: the data set it belongs to, e.g. ``"omniglot"``; files are also looked for in the
            subfolder of that name in ``METALIB_DATA``, and downloads go to that subfolder of the cache.
    """

    name: str
    url: str
    sha256: str
    size: int
    dataset: str = "archives"

    def __post_init__(self) -> None:
        if PurePosixPath(self.name).name != self.name or self.name in ("", ".", ".."):
            raise ValueError(f"an archive's name must be a plain file name, got {self.name!r}")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")


def sha256_of(path: str | os.PathLike) -> str:
    """The hex SHA-256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def candidate_paths(archive: Archive, folder: str | os.PathLike | None = None) -> list[Path]:
    """Every place :func:`fetch` looks for ``archive``, in order (without creating any folder)."""
    folders: list[Path] = []
    if folder is not None:
        folders += [Path(folder).expanduser(), Path(folder).expanduser() / archive.dataset]
    data = data_dir()
    if data is not None:
        folders += [data, data / archive.dataset]
    folders.append(_cache_root() / archive.dataset)
    paths = list(dict.fromkeys(f / archive.name for f in folders))
    return paths


def _cache_root() -> Path:
    # The same default as metalib.data.paths.cache_dir (keep the two in step), which creates the folder;
    # only the path is wanted here.
    return Path(os.environ.get("METALIB_CACHE") or Path.home() / ".cache" / "metalib").expanduser()


def verify(path: str | os.PathLike, archive: Archive) -> Path:
    """Raise :class:`ChecksumError` unless the file at ``path`` has ``archive``'s SHA-256; return ``path``."""
    path = Path(path)
    actual = sha256_of(path)
    if actual != archive.sha256:
        raise ChecksumError(
            f"{path} is not the published {archive.name}: its SHA-256 is {actual} ({path.stat().st_size} bytes), "
            f"expected {archive.sha256} ({archive.size} bytes). The file is truncated, corrupt or a different "
            f"version. Fix: delete it and get the official file again, either by calling the loader with "
            f"download=True or by downloading {archive.url} yourself and putting it in the folder METALIB_DATA "
            f"names.")
    return path


def fetch(archive: Archive, folder: str | os.PathLike | None = None, download: bool = False) -> Path:
    """The path of ``archive`` on disk, checked against its SHA-256; downloaded first only if ``download``.

    Looks in ``folder`` (when given), ``METALIB_DATA`` and the cache, each also in its subfolder named
    ``archive.dataset``; the first file found is checked and returned (a bad one is an error, it is never
    skipped silently). When the file is nowhere, ``download=True`` fetches ``archive.url`` into
    ``<cache>/<dataset>/``; otherwise :class:`ArchiveMissingError` says where it looked and how to get it.

    Raises:
        ArchiveMissingError: not on disk and ``download`` is False.
        ChecksumError: the file found (or downloaded) has the wrong SHA-256.
        DownloadError: the download failed.
    """
    places = candidate_paths(archive, folder)
    for path in places:
        if path.is_file():
            return verify(path, archive)
    if not download:
        looked = "\n".join(f"  - {p}" for p in places)
        raise ArchiveMissingError(
            f"{archive.name} ({archive.dataset}) is not on disk; looked in:\n{looked}\n"
            f"Nothing is downloaded unless you ask. To get it, either\n"
            f"  - download {archive.url} ({archive.size} bytes, SHA-256 {archive.sha256}) into a folder and "
            f"set the environment variable METALIB_DATA to that folder (or pass it as folder=...), or\n"
            f"  - call the loader with download=True to fetch it once into {_cache_root() / archive.dataset}.")
    return _download(archive, cache_dir(archive.dataset))


def _download(archive: Archive, folder: Path) -> Path:
    """Download ``archive.url`` to ``folder / archive.name`` via a checked temporary file.

    Only a failure to get the bytes from the server is a :class:`DownloadError`; a failure to write them
    (a full disk, say) is an :class:`OSError` that names the file.
    """
    target = folder / archive.name
    handle, temp_name = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=folder)
    temp = Path(temp_name)
    try:
        digest, received = hashlib.sha256(), 0
        with os.fdopen(handle, "wb") as out:
            for chunk in _chunks(archive):
                received += len(chunk)
                if received > archive.size:
                    raise ChecksumError(
                        f"download of {archive.url} sent more than the {archive.size} bytes of the "
                        f"published {archive.name}; the server holds a different file. Nothing was "
                        f"kept. Fix: download the official file yourself, check its SHA-256 is "
                        f"{archive.sha256}, and set METALIB_DATA to the folder holding it.")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != archive.sha256:
            raise ChecksumError(
                f"the file downloaded from {archive.url} is not the published {archive.name}: its SHA-256 is "
                f"{actual} ({received} bytes), expected {archive.sha256} ({archive.size} bytes). Nothing was "
                f"kept. Fix: try again (the transfer may have been cut), or download the official file "
                f"yourself and set METALIB_DATA to the folder holding it.")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        return target
    except DownloadError:
        raise
    except OSError as error:    # a local failure (a full disk, say), not the network's
        raise OSError(error.errno, f"could not write the download of {archive.name} to {temp} "
                                   f"({error.strerror or error}); nothing was kept. Fix: free some disk space, "
                                   f"or set METALIB_CACHE to a folder with room for {archive.size} bytes.") from error
    finally:
        temp.unlink(missing_ok=True)


def _chunks(archive: Archive) -> Iterator[bytes]:
    """The bytes at ``archive.url``, CHUNK at a time; any failure to get them is a :class:`DownloadError`."""
    try:
        request = urllib.request.Request(archive.url, headers={"User-Agent": "metalib"})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(CHUNK):
                yield chunk
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DownloadError(
            f"could not download {archive.name} from {archive.url}: {error}. Nothing was kept. Fix: "
            f"check the network and try again, or download the file on another machine, put it in "
            f"a folder and set METALIB_DATA to that folder.") from error


# ---------------------------------------------------------------------------------------------------
# Reading and extracting zip archives without trusting them
# ---------------------------------------------------------------------------------------------------
def _corrupt(path: Path, problem: object) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{path} is not a readable zip archive ({problem}). It is truncated or damaged. Fix: delete it and "
        f"get the file again (call the loader with download=True, or download it yourself from the data "
        f"set's official page).")


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise _corrupt(path, error) from error


def safe_member_path(name: str, path: Path | str = "archive") -> PurePosixPath:
    """The relative path a zip member called ``name`` may be written to, or :class:`UnsafeArchiveError`.

    Refuses absolute names (``/etc/x``, ``C:/x``, ``\\\\server\\x``), any ``..`` component, NUL bytes and
    empty names; backslashes count as separators, as Windows tools write them.
    """
    return PurePosixPath(*_safe_parts(name, path))


def _safe_parts(name: str, path: Path | str) -> tuple[str, ...]:
    text = name.replace("\\", "/")
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    problem = None
    if not parts or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        problem = "an absolute or empty path"
    elif "\x00" in text:
        problem = "a NUL byte"
    elif ".." in parts:
        problem = "a '..' component"
    if problem:
        raise UnsafeArchiveError(
            f"{path}: member {name!r} has {problem} and would be written outside the target folder; "
            f"nothing was extracted. Fix: use the official archive (a data set's archive never needs this).")
    return parts


def _check_members(zf: zipfile.ZipFile, path: Path, max_bytes: int) -> list[tuple[zipfile.ZipInfo, str]]:
    """Every member with its safe relative path (``/``-separated); refuses links, devices, duplicates, a name
    that is both a file and a folder, and zip bombs."""
    checked, files, folders, total = [], {}, set(), 0
    for info in zf.infolist():
        relative = "/".join(_safe_parts(info.filename, path))
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if info.create_system == 3 and kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "a special file (device, pipe or socket)"
            raise UnsafeArchiveError(
                f"{path}: member {info.filename!r} is {what}, which could point outside the target folder; "
                f"nothing was extracted. Fix: use the official archive.")
        if info.is_dir():
            folders.add(relative)
        elif relative in files:
            raise UnsafeArchiveError(f"{path}: member {info.filename!r} appears twice; nothing was extracted. "
                                     f"Fix: use the official archive.")
        else:
            files[relative] = info.filename
        parts = relative.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        total += info.file_size
        if total > max_bytes:
            raise UnsafeArchiveError(f"{path}: its members unpack to more than max_bytes={max_bytes} bytes; "
                                     f"nothing was extracted. Fix: pass a larger max_bytes if you trust it.")
        checked.append((info, relative))
    clashes = sorted(folders & files.keys())
    if clashes:
        raise UnsafeArchiveError(f"{path}: member {files[clashes[0]]!r} is both a file and a folder (another member "
                                 f"is, or lies inside, a folder of that name); nothing was extracted. Fix: use "
                                 f"the official archive.")
    return checked


def read_members(path: str | os.PathLike, suffix: str | Sequence[str] = "",
                 max_bytes: int = 1 << 32) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, data)`` for every file in the zip at ``path`` whose name ends with ``suffix``.

    Nothing is written to disk. Member names are checked as :func:`extract` checks them, every member's
    CRC is verified as it is read, and a damaged archive raises :class:`CorruptArchiveError`. Names
    are given with ``/`` separators, relative, as in the archive.
    """
    path = Path(path)
    suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
    with _open_zip(path) as zf:
        members = _check_members(zf, path, max_bytes)
        for info, relative in members:
            if info.is_dir() or not relative.endswith(suffixes):
                continue
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
                raise _corrupt(path, f"member {info.filename!r}: {error}") from error
            yield relative, data


def extract(zip_path: str | os.PathLike, target: str | os.PathLike, overwrite: bool = False,
            max_bytes: int = 1 << 32) -> Path:
    """Unpack the zip at ``zip_path`` into the folder ``target`` safely and atomically; return ``target``.

    Every member's name is checked before anything is written (see :func:`safe_member_path`; symbolic
    links, devices and duplicates are refused too, and no resolved path may leave ``target``). The members
    are written into a temporary folder beside ``target``, each CRC-checked as it is read, and the folder
    is renamed to ``target`` only when all went well, so ``target`` is either absent or complete. An
    existing ``target`` is therefore a complete earlier extraction and is returned as it is, unless
    ``overwrite`` is True.

    Raises:
        CorruptArchiveError: not a zip, truncated, or a CRC error.
        UnsafeArchiveError: a member that could escape ``target``, or more than ``max_bytes`` in all.
    """
    zip_path, target = Path(zip_path), Path(target)
    if target.exists() and not overwrite:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _open_zip(zip_path) as zf:
        members = _check_members(zf, zip_path, max_bytes)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
        try:
            root = temp.resolve()
            for info, relative in members:
                destination = (temp / relative).resolve()
                if destination != root and root not in destination.parents:
                    raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} resolves outside the target "
                                             f"folder; nothing was extracted. Fix: use the official archive.")
                try:
                    if info.is_dir():
                        destination.mkdir(parents=True, exist_ok=True)
                        continue
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as source, open(destination, "xb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as error:
                    raise _corrupt(zip_path, f"member {info.filename!r}: {error}") from error
                except (FileExistsError, IsADirectoryError, NotADirectoryError) as error:
                    raise UnsafeArchiveError(f"{zip_path}: member {info.filename!r} clashes with another "
                                             f"member ({error}); nothing was extracted.") from error
            _move_into_place(temp, target, overwrite)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
    return target


def _move_into_place(temp: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished folder ``temp`` to ``target``; an old ``target`` is swapped out only if ``overwrite``."""
    old = None
    if target.exists() and overwrite:
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.rename(temp, target)
    except OSError:
        if not target.exists():     # not a race with another process that finished first
            if old is not None:
                os.replace(old, target)
            raise
    finally:
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
