"""The official EPFL volumes: download with pooch and verification by pixel content.

``fetch_epfl()`` downloads ``training.tif``, ``training_groundtruth.tif``, ``testing.tif`` and
``testing_groundtruth.tif`` once into a cache folder and checks each file's shape, dtype and the
SHA-256 of its decoded pixels against ``data/registry.txt``, so a re-encoded but identical TIFF
passes and a changed one is refused.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Mapping, NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import tifffile

from mitolib.core.errors import DataError
from mitolib.core.locations import DATA_ENV, REGISTRY_PATH, cache_dir as default_cache_dir

EPFL_FILES = {"train": ("training.tif", "training_groundtruth.tif"), "test": ("testing.tif", "testing_groundtruth.tif")}
EPFL_SLICES = 165
EPFL_PIXEL_SIZE_NM = 5.0  # the EPFL CA1 volumes' (about) 5 nm isotropic voxels; also assumed for synthetic data

EPFL_PAGE = "https://www.epfl.ch/labs/cvlab/data/data-em/"
EPFL_NAME = "EPFL CA1 hippocampus FIB-SEM volume (Lucchi et al. 2012)"
EPFL_CITATION = ("A. Lucchi, K. Smith, R. Achanta, G. Knott, P. Fua. Supervoxel-Based Segmentation of Mitochondria "
                 "in EM Image Stacks with Learned Shape Features. IEEE Transactions on Medical Imaging 31(2), 2012.")
EPFL_DOI = "10.1109/TMI.2011.2171705"
EPFL_BASE_URL = "https://documents.epfl.ch/groups/c/cv/cvlab-unit/www/data/%20ElectronMicroscopy_Hippocampus/"


class RegistryEntry(NamedTuple):
    shape: tuple
    dtype: str
    sha256: str


def pixel_sha256(array: np.ndarray) -> str:
    """SHA-256 (hex) of an array's pixels in C order; independent of the file format that held them."""
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).data).hexdigest()


def is_epfl_training_volume(images: np.ndarray, masks: np.ndarray, registry: Mapping | None = None) -> bool:
    """Whether uint8 ``(S, H, W)`` images and {0, 1} masks hold exactly the EPFL training volume's pixels
    (the checksums of ``data/registry.txt``)."""
    registry = registry or read_registry()
    image_file, mask_file = EPFL_FILES["train"]
    return (pixel_sha256(images) == registry[image_file].sha256
            and pixel_sha256(np.asarray(masks, np.uint8) * 255) == registry[mask_file].sha256)


def read_registry(path: Path = REGISTRY_PATH) -> dict:
    """``{file name: RegistryEntry(shape, dtype, sha256)}`` from ``data/registry.txt``."""
    entries = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            name, shape, dtype, digest = fields
            entries[name] = RegistryEntry(tuple(int(n) for n in shape.split("x")), dtype, digest)
    return entries


def _copy_local(url: str, output_file, pooch_obj, check_only: bool = False):
    """A pooch downloader for ``file://`` addresses (a local or shared-filesystem mirror)."""
    source = Path(url2pathname(urlparse(url).path))
    if check_only:
        return source.is_file()
    shutil.copyfile(source, output_file)
    return None


def read_stack(path: Path) -> np.ndarray:
    """One EPFL stack: a 165-page TIFF, or ``DataError`` naming the file and the fix."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; copy the EPFL file there or run `mitolib data fetch`")
    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            array = tif.asarray() if pages == EPFL_SLICES else None
    except Exception as exc:
        raise DataError(f"{path}: unreadable TIFF ({type(exc).__name__}: {exc}); delete it and download it again") from exc
    if array is None or array.ndim != 3 or array.shape[0] != EPFL_SLICES:
        raise DataError(f"{path}: {pages} pages, expected {EPFL_SLICES}; the file is incomplete or not the EPFL volume, download it again")
    return array


def verify_stack(path: Path, entry: RegistryEntry) -> None:
    """Raise ``DataError`` unless the TIFF at ``path`` holds exactly the pixels the registry names."""
    array = read_stack(Path(path))
    if array.shape != tuple(entry.shape) or str(array.dtype) != entry.dtype:
        raise DataError(f"{path}: {array.shape} {array.dtype}, expected {tuple(entry.shape)} {entry.dtype}; delete it and fetch again")
    digest = pixel_sha256(array)
    if digest != entry.sha256:
        raise DataError(f"{path}: pixel SHA-256 {digest} differs from {entry.sha256} in data/registry.txt; "
                        "delete the file and fetch again, or report a changed upstream file")


def fetch_epfl(cache_dir=None, *, base_url: str = EPFL_BASE_URL, downloader=None, registry: Mapping | None = None) -> Path:
    """Download the four EPFL TIFFs once (about 520 MB) with pooch, verify their pixels, return the folder.

    The folder is ``cache_dir``, else ``$MITOLIB_CACHE``, else ``data/cache`` in the project.  A
    ``file://`` ``base_url`` copies from a local mirror.  Verification is by content (shape, dtype,
    pixel SHA-256 from ``data/registry.txt``), so a re-encoded but identical TIFF passes.
    """
    import pooch

    folder = default_cache_dir(cache_dir)
    expected = read_registry() if registry is None else registry
    if downloader is None and urlparse(base_url).scheme == "file":
        downloader = _copy_local
    for name in (name for pair in EPFL_FILES.values() for name in pair):
        url = base_url.rstrip("/") + "/" + name
        try:
            path = pooch.retrieve(url, known_hash=None, fname=name, path=folder, downloader=downloader, progressbar=False)
        except Exception as exc:
            raise DataError(f"{url}: download failed ({type(exc).__name__}: {exc}); get the files from {EPFL_PAGE} "
                            f"and set ${DATA_ENV} to their folder") from exc
        verify_stack(Path(path), expected[name])
    return folder


LUCCHIPP_DIR = "alt_masks_lucchipp"  # the Lucchi++ re-annotation beside the EPFL data (Casser et al. 2020)


def lucchipp_masks(root: str | Path, split: str = "test") -> np.ndarray:
    """The Lucchi++ masks of ``split`` under ``root/alt_masks_lucchipp/<split>/`` as uint8 ``(165, H, W)`` in {0, 1}.

    Slices are ``<split>_000.png`` … in order; every one of the 165 must be present and binary (0/255).
    """
    from PIL import Image

    folder = Path(root) / LUCCHIPP_DIR / split
    paths = [folder / f"{split}_{index:03d}.png" for index in range(EPFL_SLICES)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{folder}: {len(missing)} of {EPFL_SLICES} Lucchi++ masks missing (first: {missing[0]}); "
                        "see the data folder's SOURCE.md")
    masks = np.stack([np.asarray(Image.open(p)) for p in paths])
    if masks.ndim != 3 or not set(np.unique(masks)) <= {0, 255}:
        raise DataError(f"{folder}: Lucchi++ masks must be single-channel 0/255 PNGs")
    return (masks > 0).astype(np.uint8)
