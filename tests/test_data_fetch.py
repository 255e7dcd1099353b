"""mitolib.data.epfl.fetch_epfl without the network: a file:// mirror and a mocked downloader, verified by content."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import tifffile

from mitolib.data import volumes as data, epfl
from mitolib.core import locations
from mitolib.core.errors import DataError
from mitolib.data.epfl import RegistryEntry, fetch_epfl, pixel_sha256, read_registry

SHAPE = (epfl.EPFL_SLICES, 3, 5)
NAMES = [name for pair in epfl.EPFL_FILES.values() for name in pair]


def fake_volumes() -> dict:
    """Small 165-page stand-ins for the four EPFL files, each with different pixels."""
    rng = np.random.default_rng(0)
    volumes = {name: rng.integers(0, 256, SHAPE, dtype=np.uint8) for name in NAMES}
    for name in NAMES:
        if "groundtruth" in name:
            volumes[name] = (volumes[name] > 200).astype(np.uint8) * 255
    return volumes


@pytest.fixture
def mirror(tmp_path):
    """A folder with the four TIFFs and the matching registry."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    volumes = fake_volumes()
    for name, volume in volumes.items():
        tifffile.imwrite(folder / name, volume)
    registry = {name: RegistryEntry(SHAPE, "uint8", pixel_sha256(v)) for name, v in volumes.items()}
    return folder, registry


def test_fetch_from_file_url_then_load(tmp_path, mirror):
    folder, registry = mirror
    cache = fetch_epfl(tmp_path / "cache", base_url=folder.as_uri(), registry=registry)
    assert cache == tmp_path / "cache" and sorted(p.name for p in cache.iterdir()) == sorted(NAMES)
    shutil.rmtree(folder)  # already cached: a second call does not download again
    assert fetch_epfl(cache, base_url=folder.as_uri(), registry=registry) == cache
    images, masks = data.load_volume(cache, "train")
    assert images.shape == SHAPE and set(np.unique(masks)) == {0, 1}


def test_fetch_calls_the_epfl_addresses_and_honours_the_cache_env(tmp_path, mirror, monkeypatch):
    folder, registry = mirror
    calls = []

    def downloader(url, output_file, pooch_obj, check_only=False):
        calls.append(url)
        shutil.copyfile(folder / url.rsplit("/", 1)[1], output_file)

    monkeypatch.setenv(locations.CACHE_ENV, str(tmp_path / "env_cache"))
    assert fetch_epfl(downloader=downloader, registry=registry) == tmp_path / "env_cache"
    assert calls == [epfl.EPFL_BASE_URL + name for name in NAMES]
    assert calls[0] == ("https://documents.epfl.ch/groups/c/cv/cvlab-unit/www/data/"
                        "%20ElectronMicroscopy_Hippocampus/training.tif")


def test_content_mismatch_raises(tmp_path, mirror):
    folder, registry = mirror
    wrong = dict(registry)
    wrong["testing.tif"] = registry["testing.tif"]._replace(sha256="0" * 64)
    with pytest.raises(DataError, match=r"testing\.tif: pixel SHA-256 [0-9a-f]{64} differs from 0{64}"):
        fetch_epfl(tmp_path / "cache", base_url=folder.as_uri(), registry=wrong)


def test_shape_mismatch_raises(tmp_path, mirror):
    folder, registry = mirror
    wrong = dict(registry)
    wrong["training.tif"] = registry["training.tif"]._replace(shape=(165, 768, 1024))
    with pytest.raises(DataError, match=r"training\.tif: \(165, 3, 5\) uint8, expected \(165, 768, 1024\) uint8"):
        fetch_epfl(tmp_path / "cache", base_url=folder.as_uri(), registry=wrong)


def test_truncated_download_raises(tmp_path, mirror):
    folder, registry = mirror
    tifffile.imwrite(folder / "training.tif", np.zeros((100, 3, 5), np.uint8))
    with pytest.raises(DataError, match=r"training\.tif: 100 pages, expected 165"):
        fetch_epfl(tmp_path / "cache", base_url=folder.as_uri(), registry=registry)


def test_failed_download_says_what_to_do(tmp_path, mirror):
    _, registry = mirror

    def offline(url, output_file, pooch_obj, check_only=False):
        raise ConnectionError("network unreachable")

    with pytest.raises(DataError, match=r"training\.tif: download failed \(ConnectionError: network unreachable\); "
                                        r"get the files from https://www\.epfl\.ch/labs/cvlab/data/data-em/"):
        fetch_epfl(tmp_path / "cache", downloader=offline, registry=registry)


def test_registry_file_lists_the_four_volumes():
    registry = read_registry()
    assert sorted(registry) == sorted(NAMES)
    for entry in registry.values():
        assert entry.shape == (165, 768, 1024) and entry.dtype == "uint8" and re.fullmatch("[0-9a-f]{64}", entry.sha256)


def test_resolve_root_falls_back_to_the_download(tmp_path, monkeypatch):
    monkeypatch.delenv(locations.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "_fetched_root", lambda: tmp_path / "downloaded")
    monkeypatch.setattr(data, "shared_data", lambda: None)  # no group copy beside the project
    assert data.resolve_root({"data_root": ""}) == tmp_path / "downloaded"
    assert data.resolve_root({"data_root": str(tmp_path)}) == tmp_path


def test_resolve_root_reads_the_shared_copy_beside_the_project_before_downloading(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "studies.yml").write_text("")
    monkeypatch.setenv(locations.CONFIG_ENV, str(project / "studies.yml"))
    monkeypatch.delenv(locations.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "_fetched_root", lambda: tmp_path / "downloaded")
    assert data.resolve_root({"data_root": ""}) == tmp_path / "downloaded"  # no shared copy yet
    shared = tmp_path / "shared" / "data" / "epfl_mito"
    shared.mkdir(parents=True)
    assert data.resolve_root({"data_root": ""}) == shared
