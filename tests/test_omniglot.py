"""Omniglot from its official archives: the real minimal split, caching, the registry, and bad input.

The real minimal archives are looked for in ``../shared/data/omniglot`` (beside the repository); the
tests that need them are skipped when it is absent, except on CI (``CI`` set), where they fail.
"""
import dataclasses
import io
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import metalib.data
from metalib.data import omniglot
from metalib.data.archives import ArchiveMissingError, ChecksumError, CorruptArchiveError, sha256_of
from metalib.data.omniglot import load_omniglot, load_omniglot_minimal
from servers import serve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"

SMALL1_ALPHABETS = ["Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"]
SMALL2_ALPHABETS = ["Greek", "Japanese_(katakana)", "Latin", "Sanskrit", "Tagalog"]


@pytest.fixture(scope="module")
def real_folder() -> Path:
    if not all((SHARED / f"images_background_small{w}.zip").is_file() for w in (1, 2)):
        message = f"the real Omniglot minimal archives are not in {SHARED}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(message)
    return SHARED


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the module's tests, so the real archives are decoded once per size."""
    return tmp_path_factory.mktemp("omniglot-cache")


@pytest.fixture
def env(monkeypatch, shared_cache):
    """METALIB_CACHE at the module's cache, METALIB_DATA unset, no network."""
    monkeypatch.setenv("METALIB_CACHE", str(shared_cache))
    monkeypatch.delenv("METALIB_DATA", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", _refuse_network)
    return shared_cache


def _refuse_network(*args, **kwargs):
    raise AssertionError("the network was used without download=True")


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("METALIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("METALIB_DATA", raising=False)
    return tmp_path / "cache"


# ---------------------------------------------------------------------------------------------------
# The real minimal split
# ---------------------------------------------------------------------------------------------------
def test_the_records_match_the_files_and_their_readme(real_folder):
    readme = (real_folder / "README.md").read_text()
    for key in ("small1", "small2"):
        record = omniglot.ARCHIVES[key]
        path = real_folder / record.name
        assert sha256_of(path) == record.sha256
        assert path.stat().st_size == record.size
        assert re.search(rf"{re.escape(record.name)}\s*\|\s*{record.sha256}", readme)
        assert record.url == f"https://github.com/brendenlake/omniglot/raw/master/python/{record.name}"


@pytest.mark.parametrize("which,alphabets,characters", [
    (1, SMALL1_ALPHABETS, 136),
    (2, SMALL2_ALPHABETS, 156),
    ((1, 2), sorted(set(SMALL1_ALPHABETS + SMALL2_ALPHABETS)), 242),
])
def test_minimal_archives_hold_the_alphabets_and_characters_the_readme_gives(real_folder, env, which, alphabets,
                                                                               characters):
    data = load_omniglot_minimal(which, folder=real_folder)
    assert data.name == ("omniglot-minimal" if which == (1, 2) else f"omniglot-minimal{which}")
    assert sorted(data.alphabets) == alphabets
    assert data.num_classes == characters and len(set(data.class_names)) == characters
    assert data.images.shape == (characters, 20, 28, 28) and data.images.dtype == torch.uint8
    assert data.counts.tolist() == [20] * characters
    assert len(data) == 20 * characters
    for name, group in zip(data.class_names, data.groups):
        alphabet, character = name.split("/")
        assert alphabet == group and re.fullmatch(r"character\d\d", character)
    train, val, test = data.split()
    assert train.num_classes + val.num_classes + test.num_classes == characters


def test_greek_and_latin_are_identical_in_both_archives_and_kept_once(real_folder, env):
    one, two = (load_omniglot_minimal(w, folder=real_folder) for w in (1, 2))
    both = load_omniglot_minimal(folder=real_folder)
    shared = [n for n in one.class_names if n in two.class_names]
    assert {n.split("/")[0] for n in shared} == {"Greek", "Latin"} and len(shared) == 24 + 26
    for name in shared:
        assert torch.equal(one.images[one.class_names.index(name)], two.images[two.class_names.index(name)])
        assert both.class_names.count(name) == 1


def test_ink_is_255_on_a_background_of_0_at_105_and_area_averaged_at_28(real_folder, env):
    full = load_omniglot_minimal(1, size=105, folder=real_folder)
    small = load_omniglot_minimal(1, size=28, folder=real_folder)
    assert full.images.shape == (136, 20, 105, 105)
    assert set(full.images.unique().tolist()) == {0, 255}                  # the binary PNGs, inverted
    ink = (full.images == 255).float().mean(dim=(2, 3))
    assert 0.02 < ink.mean() < 0.15 and ink.min() > 0                      # mostly paper, never blank
    border = torch.cat([full.images[..., :2, :].flatten(), full.images[..., -2:, :].flatten()])
    assert (border == 0).float().mean() > 0.99
    expected = F.interpolate(full.images.flatten(0, 1)[:, None].float(), size=(28, 28), mode="area")
    assert (expected[:, 0].round() - small.images.flatten(0, 1).float()).abs().max() <= 1
    assert (small.images == 0).float().mean() > 0.7 and small.images.max() == 255
    assert torch.equal(load_omniglot_minimal(1, size=105, folder=real_folder).images, full.images)  # bit cache


def test_decoded_tensors_are_cached_and_the_cached_load_needs_no_archive(real_folder, fresh_cache, monkeypatch):
    first = load_omniglot_minimal(folder=real_folder)
    files = sorted(p.name for p in (fresh_cache / "omniglot").iterdir())
    assert len(files) == 2 and all(f.endswith("-28px-v1.pt") for f in files)

    def no_archive(*args, **kwargs):
        raise AssertionError("a cached load read or decoded the archive")
    monkeypatch.setattr(omniglot, "fetch", no_archive)
    monkeypatch.setattr(omniglot, "decode_archive", no_archive)
    again = load_omniglot_minimal(folder=real_folder)
    assert torch.equal(first.images, again.images) and first.class_names == again.class_names
    assert first.groups == again.groups and torch.equal(first.counts, again.counts)


def test_a_damaged_cache_file_is_rebuilt(real_folder, fresh_cache):
    first = load_omniglot_minimal(1, folder=real_folder)
    (cached,) = (fresh_cache / "omniglot").iterdir()
    cached.write_bytes(b"not a tensor file")
    with pytest.warns(RuntimeWarning, match=rf"cache file {re.escape(str(cached))} cannot be used"):
        again = load_omniglot_minimal(1, folder=real_folder)
    assert torch.equal(again.images, first.images)
    assert cached.stat().st_size > 1000


def test_the_registry_loads_it_with_a_folder_or_metalib_data(real_folder, env, monkeypatch):
    by_folder = metalib.data.load("omniglot-minimal", which=1, folder=real_folder)
    monkeypatch.setenv("METALIB_DATA", str(real_folder))
    by_env = metalib.data.load("omniglot-minimal")
    assert by_env.num_classes == 242 and by_folder.num_classes == 136
    monkeypatch.setenv("METALIB_DATA", str(real_folder.parent))            # the omniglot/ subfolder is found
    assert metalib.data.load("omniglot-minimal", size=105).image_size == (105, 105)


def test_download_on_request_fetches_into_the_cache(real_folder, fresh_cache, monkeypatch, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(real_folder / "images_background_small1.zip", served)
    with serve(served, monkeypatch) as (base, requested):
        record = omniglot.ARCHIVES["small1"]
        monkeypatch.setitem(omniglot.ARCHIVES, "small1",
                            dataclasses.replace(record, url=f"{base}/{record.name}"))
        with pytest.raises(ArchiveMissingError, match=re.escape(base)):
            load_omniglot_minimal(1)                                    # not asked: nothing is fetched
        assert requested == []
        data = load_omniglot_minimal(1, download=True)
        assert requested == [f"/{record.name}"]
    assert data.num_classes == 136
    assert sha256_of(fresh_cache / "omniglot" / record.name) == record.sha256


def test_a_changed_archive_is_a_checksum_error(real_folder, fresh_cache, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    copy = folder / "images_background_small1.zip"
    data = bytearray((real_folder / copy.name).read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"images_background_small1\.zip is not the published") as caught:
        load_omniglot_minimal(1, folder=folder)
    assert omniglot.ARCHIVES["small1"].sha256 in str(caught.value)


# ---------------------------------------------------------------------------------------------------
# Without the real data: bad input, and the full archives' loader on look-alike archives
# ---------------------------------------------------------------------------------------------------
def _png(ink_pixels: int) -> bytes:
    paper = np.ones((105, 105), dtype=bool)
    paper[40:40 + ink_pixels // 10 + 1, 30:40] = False
    out = io.BytesIO()
    Image.fromarray(paper).convert("1").save(out, format="PNG")
    return out.getvalue()


def make_lookalike(path: Path, root: str, alphabets: dict, drawers: int = 3, extra: dict | None = None) -> Path:
    """A zip laid out like Omniglot's: ``root/<Alphabet>/characterNN/<id>_<drawer>.png``."""
    with zipfile.ZipFile(path, "w") as zf:
        for a, (alphabet, characters) in enumerate(sorted(alphabets.items())):
            for c in range(1, characters + 1):
                for d in range(1, drawers + 1):
                    zf.writestr(f"{root}/{alphabet}/character{c:02d}/{a:02d}{c:02d}_{d:02d}.png", _png(10 * c + d))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def use_lookalike_background(folder: Path, monkeypatch) -> Path:
    """A small look-alike ``images_background.zip`` in ``folder``, made the official record for the test."""
    path = make_lookalike(folder / "images_background.zip", "images_background", {"Greek": 2, "Latin": 1})
    monkeypatch.setitem(omniglot.ARCHIVES, "background", dataclasses.replace(
        omniglot.ARCHIVES["background"], sha256=sha256_of(path), size=path.stat().st_size))
    return path


def test_cache_files_get_the_users_umask(fresh_cache, tmp_path, monkeypatch):
    use_lookalike_background(tmp_path, monkeypatch)
    load_omniglot("background", folder=tmp_path)
    (cached,) = (fresh_cache / "omniglot").iterdir()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("damage", ["not-a-tensor-file", "wrong-contents"])
def test_a_damaged_cache_file_is_a_warning_and_decoded_again(fresh_cache, tmp_path, monkeypatch, damage):
    use_lookalike_background(tmp_path, monkeypatch)
    first = load_omniglot("background", size=105, folder=tmp_path)
    (cached,) = (fresh_cache / "omniglot").iterdir()
    if damage == "not-a-tensor-file":
        cached.write_bytes(b"not a tensor file")
    else:
        torch.save({"images": torch.zeros(3, 2, 1, 1, dtype=torch.uint8), "counts": torch.ones(3),
                    "class_names": ["a", "b", "c"], "groups": ["a", "b", "c"]}, cached)
    with pytest.warns(RuntimeWarning, match=rf"cache file {re.escape(str(cached))} cannot be used"):
        again = load_omniglot("background", size=105, folder=tmp_path)
    assert torch.equal(again.images, first.images) and again.class_names == first.class_names
    assert torch.equal(omniglot._read_cache(cached, 105)["images"], first.images)     # replaced by a good one


def test_an_unwritable_cache_costs_a_warning_not_the_data(tmp_path, monkeypatch):
    use_lookalike_background(tmp_path, monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("METALIB_CACHE", str(blocker / "cache"))        # no folder can be made under a file
    monkeypatch.delenv("METALIB_DATA", raising=False)
    cached = omniglot._cache_path(omniglot.ARCHIVES["background"], 28)
    with pytest.warns(RuntimeWarning, match=rf"could not write the Omniglot cache file {re.escape(str(cached))}"
                                            rf".*METALIB_CACHE"):
        data = load_omniglot("background", folder=tmp_path)
    assert data.num_classes == 3 and data.images.shape == (3, 3, 28, 28)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a-file", "images_background.zip"]


def test_the_full_archives_load_with_the_official_split(fresh_cache, tmp_path, monkeypatch):
    paths = {"background": make_lookalike(tmp_path / "images_background.zip", "images_background",
                                          {"Greek": 3, "Latin": 2, "Korean": 1}),
             "evaluation": make_lookalike(tmp_path / "images_evaluation.zip", "images_evaluation",
                                          {"Angelic": 2, "Avesta": 1, "Tengwar": 2, "ULOG": 1})}
    for key, path in paths.items():
        monkeypatch.setitem(omniglot.ARCHIVES, key, dataclasses.replace(
            omniglot.ARCHIVES[key], sha256=sha256_of(path), size=path.stat().st_size))
    background = load_omniglot("background", size=105, folder=tmp_path)
    assert background.name == "omniglot-background" and background.num_classes == 6
    assert background.class_names[:2] == ("Greek/character01", "Greek/character02")
    assert background.images.shape == (6, 3, 105, 105) and background.split_of_group is None
    everything = load_omniglot("all", folder=tmp_path)
    assert everything.name == "omniglot" and everything.num_classes == 12 and everything.image_size == (28, 28)
    train, val, test = everything.split()
    assert set(train.groups) == {"Greek", "Latin", "Korean"}
    assert set(val.groups) == {"Angelic", "Tengwar"} and set(test.groups) == {"Avesta", "ULOG"}


def test_missing_archives_offline_say_how_to_get_them(fresh_cache, tmp_path, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", _refuse_network)
    monkeypatch.setenv("METALIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ArchiveMissingError) as caught:
        load_omniglot("evaluation")
    message = str(caught.value)
    assert omniglot.ARCHIVES["evaluation"].url in message
    assert "METALIB_DATA" in message and "download=True" in message and str(tmp_path / "nowhere") in message


@pytest.mark.parametrize("extra,problem", [
    ({"images_background/Greek/character01/oops.png": b"not a png"}, "cannot be decoded"),
    ({"images_background/Greek/stray.png": _png(5)}, "not laid out"),
])
def test_a_damaged_or_foreign_archive_is_a_corrupt_archive_error(tmp_path, extra, problem):
    path = make_lookalike(tmp_path / "images_background.zip", "images_background", {"Greek": 1}, extra=extra)
    with pytest.raises(CorruptArchiveError, match=problem):
        omniglot.decode_archive(path)


def test_a_wrong_image_size_is_reported(tmp_path):
    out = io.BytesIO()
    Image.new("1", (50, 50), 1).save(out, format="PNG")
    path = make_lookalike(tmp_path / "x.zip", "x", {"Greek": 1},
                          extra={"x/Greek/character02/0001_01.png": out.getvalue()})
    with pytest.raises(CorruptArchiveError, match="50x50, not 105x105"):
        omniglot.decode_archive(path)


@pytest.mark.parametrize("call,message", [
    (lambda: load_omniglot("train"), "unknown Omniglot split 'train'"),
    (lambda: load_omniglot(size=0), "size must be a whole number"),
    (lambda: load_omniglot(size=106), "size must be a whole number"),
    (lambda: load_omniglot_minimal(which=3), "which must be 1, 2 or"),
    (lambda: load_omniglot_minimal(which=(1, 1)), "which must be 1, 2 or"),
])
def test_bad_arguments_are_clear_errors(fresh_cache, call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
