"""Archives: finding, checking, downloading on request only, and extracting without trusting the zip."""
import errno
import hashlib
import io
import os
import stat
import urllib.request
import zipfile
from pathlib import Path

import pytest

from metalib.data import archives
from metalib.data.archives import (Archive, ArchiveMissingError, ChecksumError, CorruptArchiveError,
                                   DownloadError, UnsafeArchiveError, extract, fetch, read_members,
                                   sha256_of)
from servers import serve

FILES = {"toy/a.txt": b"alpha\n", "toy/sub/b.bin": bytes(range(256)) * 40, "toy/empty/": b""}


def make_zip(path: Path, entries: dict, compression=zipfile.ZIP_DEFLATED) -> Path:
    """A zip at ``path``; a key ending in '/' is a folder, a ZipInfo value is written as given."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, b"/etc/passwd")
            elif name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return path


def record_for(path: Path, url: str = "https://example.invalid/toy.zip", dataset: str = "toyset") -> Archive:
    data = path.read_bytes()
    return Archive(path.name, url, hashlib.sha256(data).hexdigest(), len(data), dataset)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache and no METALIB_DATA. Tests that must not reach the network also call forbid_network."""
    monkeypatch.setenv("METALIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("METALIB_DATA", raising=False)
    return tmp_path


def forbid_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used without download=True")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------------------------------------------
# Finding and checking
# ---------------------------------------------------------------------------------------------------
def test_sha256_of_matches_hashlib(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * archives.CHUNK + 17))
    assert sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_finds_the_file_in_the_folder_given_or_in_metalib_data(env, monkeypatch):
    forbid_network(monkeypatch)
    source = make_zip(env / "toy.zip", FILES)
    record = record_for(source)
    assert fetch(record, folder=env) == source
    monkeypatch.setenv("METALIB_DATA", str(env))
    assert fetch(record) == source
    # ... and in METALIB_DATA's subfolder named after the data set
    sub = env / "data"
    (sub / "toyset").mkdir(parents=True)
    moved = source.rename(sub / "toyset" / "toy.zip")
    monkeypatch.setenv("METALIB_DATA", str(sub))
    assert fetch(record) == moved


def test_checksum_mismatch_names_the_file_both_hashes_and_the_fix(env, monkeypatch):
    forbid_network(monkeypatch)
    source = make_zip(env / "toy.zip", FILES)
    record = record_for(source)
    source.write_bytes(source.read_bytes()[:-10] + b"0123456789")     # same size, different bytes
    with pytest.raises(ChecksumError) as caught:
        fetch(record, folder=env)
    message = str(caught.value)
    assert str(source) in message
    assert record.sha256 in message and sha256_of(source) in message
    assert "delete it" in message and "download=True" in message and record.url in message
    assert isinstance(caught.value, ValueError)


def test_missing_offline_says_where_it_looked_and_how_to_get_it(env, monkeypatch):
    forbid_network(monkeypatch)
    monkeypatch.setenv("METALIB_DATA", str(env / "my-data"))
    record = Archive("toy.zip", "https://example.invalid/data/toy.zip", "0" * 64, 123, "toyset")
    with pytest.raises(ArchiveMissingError) as caught:
        fetch(record, folder=env / "given")
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert record.url in message and "METALIB_DATA" in message and "download=True" in message
    for place in (env / "given" / "toy.zip", env / "my-data" / "toy.zip", env / "my-data" / "toyset" / "toy.zip",
                  env / "cache" / "toyset" / "toy.zip"):
        assert str(place) in message
    assert not (env / "cache").exists() or files_under(env / "cache") == []   # nothing created offline


@pytest.mark.parametrize("name,sha", [("../toy.zip", "0" * 64), ("toy.zip", "xyz"), ("toy.zip", "A" * 64)])
def test_archive_records_are_validated(name, sha):
    with pytest.raises(ValueError):
        Archive(name, "https://example.invalid/x", sha, 1)


# ---------------------------------------------------------------------------------------------------
# Downloading on request
# ---------------------------------------------------------------------------------------------------
def test_download_on_request_lands_in_the_cache_once(env, monkeypatch):
    served = env / "served"
    served.mkdir()
    source = make_zip(served / "toy.zip", FILES)
    with serve(served, monkeypatch) as (base, requested):
        record = record_for(source, url=f"{base}/toy.zip")
        path = fetch(record, download=True)
        assert path == env / "cache" / "toyset" / "toy.zip"
        assert path.read_bytes() == source.read_bytes()
        assert fetch(record, download=True) == path                  # found on disk: no second request
        assert fetch(record) == path
        assert requested == ["/toy.zip"]
    assert files_under(env / "cache" / "toyset") == ["toy.zip"]      # no temporary file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("served_bytes", ["different", "truncated", "longer"])
def test_a_bad_download_leaves_no_file_behind(env, monkeypatch, served_bytes):
    served = env / "served"
    served.mkdir()
    good = make_zip(env / "toy.zip", FILES).read_bytes()
    bad = {"different": good[:-4] + b"abcd", "truncated": good[: len(good) // 2], "longer": good + b"x" * 5000}
    (served / "toy.zip").write_bytes(bad[served_bytes])
    with serve(served, monkeypatch) as (base, _):
        record = Archive("toy.zip", f"{base}/toy.zip", hashlib.sha256(good).hexdigest(), len(good), "toyset")
        with pytest.raises(ChecksumError, match="Nothing was kept") as caught:
            fetch(record, download=True)
    assert record.url in str(caught.value)
    assert files_under(env / "cache" / "toyset") == []


def test_a_failed_download_is_a_clear_error_and_leaves_no_file(env, monkeypatch):
    served = env / "served"
    served.mkdir()
    with serve(served, monkeypatch) as (base, _):
        record = Archive("toy.zip", f"{base}/missing.zip", "0" * 64, 10, "toyset")
        with pytest.raises(DownloadError, match=r"could not download toy\.zip from .*404.*METALIB_DATA"):
            fetch(record, download=True)
    assert files_under(env / "cache" / "toyset") == []


class _FullDisk(io.BytesIO):
    """A file whose every write fails as on a full disk."""

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_local_write_error_is_not_blamed_on_the_network(env, monkeypatch):
    served = env / "served"
    served.mkdir()
    source = make_zip(served / "toy.zip", FILES)

    def full_disk(handle, mode):
        os.close(handle)
        return _FullDisk()
    monkeypatch.setattr(archives.os, "fdopen", full_disk)
    with serve(served, monkeypatch) as (base, requested):
        record = record_for(source, url=f"{base}/toy.zip")
        with pytest.raises(OSError) as caught:
            fetch(record, download=True)
        assert requested == ["/toy.zip"]
    message = str(caught.value)
    assert not isinstance(caught.value, DownloadError) and caught.value.errno == errno.ENOSPC
    assert str(env / "cache" / "toyset") in message and "could not write the download of toy.zip" in message
    assert "network" not in message
    assert files_under(env / "cache" / "toyset") == []


# ---------------------------------------------------------------------------------------------------
# Extracting safely
# ---------------------------------------------------------------------------------------------------
def test_extract_unpacks_everything_atomically_and_reuses_a_finished_target(tmp_path):
    source = make_zip(tmp_path / "toy.zip", FILES)
    target = extract(source, tmp_path / "out")
    assert (target / "toy" / "a.txt").read_bytes() == FILES["toy/a.txt"]
    assert (target / "toy" / "sub" / "b.bin").read_bytes() == FILES["toy/sub/b.bin"]
    assert (target / "toy" / "empty").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "toy.zip"]      # no temporary folder left
    (target / "toy" / "a.txt").write_bytes(b"changed")
    assert extract(source, target) == target                                     # complete: left as it is
    assert (target / "toy" / "a.txt").read_bytes() == b"changed"
    extract(source, target, overwrite=True)
    assert (target / "toy" / "a.txt").read_bytes() == FILES["toy/a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "toy.zip"]


def test_read_members_gives_the_files_without_writing_anything(tmp_path):
    source = make_zip(tmp_path / "toy.zip", FILES)
    assert dict(read_members(source)) == {k: v for k, v in FILES.items() if not k.endswith("/")}
    assert [name for name, _ in read_members(source, ".txt")] == ["toy/a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.zip"]


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("evil", [
    {"../evil.txt": b"x"},
    {"ok/../../evil.txt": b"x"},
    {"..\\evil.txt": b"x"},
    {"{tmp_path}/evil.txt": b"x"},                            # absolute, aimed where the test can look
    {"C:/evil.txt": b"x"},
    {"link": _symlink("link")},
    {"toy/link": _symlink("toy/link"), "toy/link/evil.txt": b"x"},
    {"toy/a.txt": b"one", "toy//a.txt": b"two"},
], ids=["dotdot", "nested-dotdot", "backslash", "absolute", "drive", "symlink", "through-symlink", "duplicate"])
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, evil):
    evil = {name.replace("{tmp_path}", tmp_path.as_posix()): data for name, data in evil.items()}
    work = tmp_path / "work"
    work.mkdir()
    source = make_zip(tmp_path / "evil.zip", {"toy/fine.txt": b"fine", **evil})
    before = files_under(tmp_path)
    with zipfile.ZipFile(source) as zf:
        assert set(evil) <= set(zf.namelist())                # the zip really holds the hostile names
    with pytest.raises(UnsafeArchiveError) as caught:
        extract(source, work / "target")
    assert str(source) in str(caught.value)
    with pytest.raises(UnsafeArchiveError):
        list(read_members(source))
    assert files_under(work) == []
    assert files_under(tmp_path) == before == ["evil.zip", "work"]      # nothing written beside the target


@pytest.mark.parametrize("entries", [
    {"toy/a": b"file", "toy/a/": b""},
    {"toy/a/": b"", "toy/a": b"file"},
    {"toy/a": b"file", "toy/a/b.txt": b"inside"},
    {"toy/a/b.txt": b"inside", "toy/a": b"file"},
], ids=["file-then-folder", "folder-then-file", "file-then-member-inside", "member-inside-then-file"])
def test_a_name_that_is_both_a_file_and_a_folder_is_refused_before_writing(tmp_path, entries):
    source = make_zip(tmp_path / "clash.zip", {"toy/fine.txt": b"fine", **entries})
    with pytest.raises(UnsafeArchiveError, match="member 'toy/a' is both a file and a folder") as caught:
        extract(source, tmp_path / "out")
    assert str(source) in str(caught.value) and "nothing was extracted" in str(caught.value)
    with pytest.raises(UnsafeArchiveError, match="member 'toy/a' is both a file and a folder"):
        list(read_members(source))
    assert files_under(tmp_path) == ["clash.zip"]


def test_a_zip_bomb_is_refused_before_writing(tmp_path):
    source = make_zip(tmp_path / "big.zip", {"zeros.bin": bytes(200_000)})
    with pytest.raises(UnsafeArchiveError, match="max_bytes"):
        extract(source, tmp_path / "out", max_bytes=100_000)
    assert not (tmp_path / "out").exists()


def _corrupt_crc(path: Path) -> None:
    """Flip one byte inside a stored member's data, so only its CRC check can notice."""
    data = bytearray(path.read_bytes())
    at = bytes(data).index(b"alpha")
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["not-a-zip", "truncated", "crc"])
def test_a_corrupt_archive_is_a_clear_error_that_names_file_and_fix(tmp_path, damage):
    source = make_zip(tmp_path / "toy.zip", FILES, compression=zipfile.ZIP_STORED)
    if damage == "not-a-zip":
        source.write_bytes(b"<html>404 Not Found</html>")
    elif damage == "truncated":
        source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    else:
        _corrupt_crc(source)
    with pytest.raises(CorruptArchiveError) as caught:
        extract(source, tmp_path / "out")
    message = str(caught.value)
    assert str(source) in message and "not a readable zip" in message and "delete it" in message
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.zip"]          # no temporary folder left
    with pytest.raises(CorruptArchiveError):
        dict(read_members(source))


def test_errors_share_one_base_class():
    for error in (ArchiveMissingError, ChecksumError, CorruptArchiveError, UnsafeArchiveError, DownloadError):
        assert issubclass(error, archives.ArchiveError)
