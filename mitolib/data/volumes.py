"""Reading the EPFL mitochondria volumes, with checks that stop bad data before any training.

``load_volume(root, split)`` reads one of three layouts:

1. the official EPFL stacks ``training.tif``, ``training_groundtruth.tif``, ``testing.tif`` and
   ``testing_groundtruth.tif`` (165-page TIFFs) directly in ``root``;
2. per-slice files ``root/<split>/images/*`` and ``root/<split>/masks/*`` (PNG or TIFF), an image
   and its mask having the same stem (``train_000.png`` <-> ``train_000.png``);
3. the original project's patch folders ``images/image_<n>.tif`` and ``masks/mask_<n>.tif``, paired
   by the number ``n`` and sorted numerically: under ``root/<split>/`` when that folder exists,
   otherwise directly under ``root``, and then both splits read the same folder.

Files are sorted by name (numbers in names compared as numbers) and every image is paired with
its mask by name, never by list position.  Every problem raises ``DataError`` with the file or
folder at fault and what to do.
"""

from __future__ import annotations

import functools
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import tifffile
from PIL import Image

from mitolib.data import synthetic
from mitolib.data.epfl import (EPFL_CITATION, EPFL_DOI, EPFL_FILES, EPFL_NAME, EPFL_PIXEL_SIZE_NM, fetch_epfl,
                               is_epfl_training_volume, read_stack)
from mitolib.core.errors import DataError
from mitolib.core.locations import DATA_ENV, data_setting, project_root, shared_data

SPLITS = ("train", "test")
SLICE_SUFFIXES = (".png", ".tif", ".tiff")
PATCH_NAME = re.compile(r"(?:image|mask)_0*(\d+)")
BINARY_VALUES = ({0, 1}, {0, 255})
UINT8_MAX = 255
READ_THREADS = 4
VOLUME_CACHE_SIZE = 4
SHOWN_IN_MESSAGES = 6  # names or values listed in an error message
FOREGROUND_PLAUSIBLE = (0.001, 0.5)  # foreground fractions data check accepts for mitochondria masks


def load_volume(root, split: str, *, threshold: float | None = None, convert: bool = False):
    """Read one split: ``(images, masks)``, uint8 arrays of shape ``(S, H, W)``, masks in {0, 1}.

    Masks must hold {0, 1} or {0, 255} unless ``threshold`` is given (then mask = value > threshold).
    Images must be uint8 unless ``convert`` is true (then they are rescaled with a warning).
    """
    images, masks, _ = _load(Path(root), split, threshold, convert)
    return images, masks


def _load(root: Path, split: str, threshold, convert):
    """``(images, masks, info)``; info describes the layout and the raw files, for ``check_data``."""
    layout, folder = _layout(root, split)
    if layout == "epfl":
        image_path, mask_path = (root / name for name in EPFL_FILES[split])
        raw_images, raw_masks = read_stack(image_path), read_stack(mask_path)
        _same_shape(image_path, raw_images, mask_path, raw_masks)
        images = _as_uint8(raw_images, image_path, convert)
        masks, values = _binarize(raw_masks, mask_path, threshold, set())
        info = {"layout": "EPFL TIFF stacks", "pairing": f"{image_path.name} <-> {mask_path.name}", "files": 2}
    else:
        pairs = _pair(folder / "images", folder / "masks")
        with ThreadPoolExecutor(READ_THREADS) as pool:
            raw = list(pool.map(lambda pair: (_read_slice(pair[0]), _read_slice(pair[1])), pairs))
        first = pairs[0][0]
        values: set = set()
        image_list, mask_list = [], []
        for (image_path, mask_path), (image, mask) in zip(pairs, raw):
            _same_shape(image_path, image, mask_path, mask)
            _same_shape(first, raw[0][0], image_path, image, what="slice of this volume")
            if image.dtype != np.uint8 and not convert:
                raise _dtype_error(image_path, image.dtype)
            mask, values = _binarize(mask, mask_path, threshold, values)
            image_list.append(image)
            mask_list.append(mask)
        raw_images = np.stack(image_list)
        images, masks = _as_uint8(raw_images, folder / "images", convert), np.stack(mask_list)
        rule = "image_<n> <-> mask_<n>" if PATCH_NAME.fullmatch(first.stem) else "same file stem"
        info = {"layout": f"slice files in {folder}", "pairing": f"{len(pairs)} pairs by {rule}", "files": 2 * len(pairs)}
    info.update(image_dtype=str(raw_images.dtype), mask_values=sorted(int(v) for v in values))
    return images, masks, info


def _layout(root: Path, split: str):
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found; set data_root or ${DATA_ENV}, or run `mitolib data fetch`")
    if any((root / name).exists() for name in EPFL_FILES[split]):
        return "epfl", root
    for folder in (root / split, root):
        if (folder / "images").is_dir() or (folder / "masks").is_dir():
            return "folders", folder
    names = " and ".join(EPFL_FILES[split])
    raise DataError(f"{root}: no {split} data: expected {names}, or {split}/images and {split}/masks, "
                    "or images/ and masks/ (see data/README.md)")


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _pair_key(path: Path) -> str:
    match = PATCH_NAME.fullmatch(path.stem)
    return match.group(1) if match else path.stem


def _list_slices(folder: Path) -> dict:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found; put one {'mask' if folder.name == 'masks' else 'image'} file per slice there")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SLICE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no PNG or TIFF files; put one file per slice there")
    keyed: dict = {}
    for path in files:
        key = _pair_key(path)
        if key in keyed:
            raise DataError(f"{path}: same pairing name as {keyed[key].name}; keep only one of them")
        keyed[key] = path
    return keyed


def _pair(image_dir: Path, mask_dir: Path) -> list:
    images, masks = _list_slices(image_dir), _list_slices(mask_dir)
    lonely_images = sorted(set(images) - set(masks), key=_natural_key)
    lonely_masks = sorted(set(masks) - set(images), key=_natural_key)
    if len(images) != len(masks):
        spare = [images[k].name for k in lonely_images] + [masks[k].name for k in lonely_masks]
        raise DataError(f"{image_dir.parent}: {len(images)} images but {len(masks)} masks (unpaired: "
                        f"{', '.join(spare[:SHOWN_IN_MESSAGES])}); every image needs exactly one mask")
    if lonely_images:
        raise DataError(f"{images[lonely_images[0]]}: no mask with the same name (or mask_<n> for image_<n>) in "
                        f"{mask_dir}; rename or add the mask")
    if lonely_masks:
        raise DataError(f"{masks[lonely_masks[0]]}: no image with the same name in {image_dir}; rename or remove it")
    return [(images[key], masks[key]) for key in sorted(images, key=_natural_key)]


def _read_slice(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() == ".png":
            with Image.open(path) as handle:
                array = np.array(handle)
        else:
            array = tifffile.imread(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc}); the file is truncated or not an image, replace it") from exc
    if array.ndim != 2:
        raise DataError(f"{path}: shape {array.shape} is not one grayscale slice; save single-channel 2-D images")
    return array


def _same_shape(path_a: Path, a: np.ndarray, path_b: Path, b: np.ndarray, what: str = "its partner") -> None:
    if a.shape != b.shape:
        raise DataError(f"{path_b}: shape {b.shape} differs from {what} {path_a.name} {a.shape}; crop or resample them to one shape")


def _dtype_error(where: Path, dtype) -> DataError:
    return DataError(f"{where}: images are {dtype}, expected uint8; rescale them to uint8 with "
                     "`mitolib data check PATH --convert` to see the result, then train with -p convert_images true")


def _as_uint8(images: np.ndarray, where: Path, convert: bool) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if not convert:
        raise _dtype_error(where, images.dtype)
    low, high = float(images.min()), float(images.max())
    if images.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        low, high, how = 0.0, 1.0, "multiplied by 255 (float values in [0, 1])"
    else:
        how = f"rescaled linearly from [{low:g}, {high:g}] to [0, 255]"
    warnings.warn(f"{where}: converted {images.dtype} images to uint8: {how}", stacklevel=3)
    span = max(high - low, np.finfo(np.float32).eps)
    out = np.empty(images.shape, dtype=np.uint8)
    for index, plane in enumerate(images):
        out[index] = np.clip(np.rint((plane.astype(np.float32) - low) * (UINT8_MAX / span)), 0, UINT8_MAX)
    return out


def _values(mask: np.ndarray) -> set:
    if mask.dtype in (np.uint8, np.bool_):
        return {int(v) for v in np.flatnonzero(np.bincount(mask.reshape(-1).view(np.uint8), minlength=2))}
    return {v.item() for v in np.unique(mask)}


def _binarize(mask: np.ndarray, where: Path, threshold, seen: set):
    """``(mask uint8 in {0, 1}, values seen so far)``; raises unless values are {0,1} or {0,255} throughout."""
    if threshold is not None:
        return (mask > threshold).astype(np.uint8), seen | _values(mask)
    values = _values(mask)
    union = seen | values
    if not any(union <= allowed for allowed in BINARY_VALUES):
        shown = ", ".join(str(v) for v in sorted(values)[:SHOWN_IN_MESSAGES])
        mixed = " (mixed with earlier masks' values)" if any(values <= allowed for allowed in BINARY_VALUES) else ""
        raise DataError(f"{where}: mask values {{{shown}}}{mixed} are not binary {{0, 1}} or {{0, 255}}; "
                        "fix the masks, or binarise them as value > T: `mitolib data check PATH --threshold T` to "
                        "see the result, then train with -p mask_threshold T")
    return (mask > 0).astype(np.uint8), union


def resolve_root(params: Mapping) -> Path:
    """The EPFL data folder for ``params``: ``data_root``, else ``$MITOLIB_DATA`` (relative paths from
    the project root), else ``../shared/data/epfl_mito`` beside the project where it exists
    (``locations.shared_data``), else the verified download cache (``fetch_epfl``)."""
    setting = params.get("data_root") or data_setting()
    if not setting:
        return shared_data() or _fetched_root()
    path = Path(setting).expanduser()
    return path if path.is_absolute() else project_root() / path


def recorded_params(record: Mapping) -> dict:
    """A finished run's parameters (its ``params.json`` ``record``) with the data folder it trained on filled in
    where they name none (``data_root: ""``) and ``$MITOLIB_DATA`` is not set: so ``evaluate`` and ``export``
    find a run's data outside the shell it was trained in."""
    params = dict(record["params"])
    if params.get("data_source", "epfl") == "epfl" and not params.get("data_root") and not data_setting():
        params["data_root"] = str(record.get("data_root_resolved") or "")
    return params


def resolve_volumes(params: Mapping, split: str):
    """The volumes ``params`` name: ``(images, masks)``, uint8 ``(S, H, W)``, masks in {0, 1}.

    ``data_source: synthetic`` builds ``synthetic_slices x synthetic_height x synthetic_width``
    volumes from the fixed data seed (not ``seed``); ``epfl`` reads ``resolve_root(params)``.
    Results are cached in-process and read-only: copy before changing them.
    """
    source = params.get("data_source", "epfl")
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if source == "synthetic":
        shape = (int(params["synthetic_slices"]), int(params["synthetic_height"]), int(params["synthetic_width"]))
        return _synthetic_volume(split, *shape)
    if source == "epfl":
        threshold = float(params.get("mask_threshold") or 0) or None
        return _cached_volume(str(resolve_root(params).resolve()), split, threshold,
                              bool(params.get("convert_images", False)))
    raise DataError(f"data_source {source!r} is unknown; use 'epfl' or 'synthetic' (studies.yml or -p data_source ...)")


def _read_only(images: np.ndarray, masks: np.ndarray):
    images.flags.writeable = False
    masks.flags.writeable = False
    return images, masks


@functools.lru_cache(maxsize=VOLUME_CACHE_SIZE)
def _cached_volume(root: str, split: str, threshold: float | None = None, convert: bool = False):
    return _read_only(*load_volume(root, split, threshold=threshold, convert=convert))


@functools.lru_cache(maxsize=VOLUME_CACHE_SIZE)
def _synthetic_volume(split: str, n_slices: int, height: int, width: int):
    return _read_only(*synthetic.make_split(split, n_slices, height, width))


@functools.lru_cache(maxsize=1)
def _fetched_root() -> Path:
    return fetch_epfl()


def data_identity(params: Mapping) -> str:
    """What a run's data are, by content: SHA-256 (16 hex digits) over the training volume and, when the run
    is evaluated on it, the test volume (images and masks).  Reading them also checks them, so a broken split
    fails here, before any training.  Part of a run's identity: the same parameters on other data (another
    ``MITOLIB_DATA``, other labels) are another run."""
    source = params.get("data_source", "epfl")
    where = str(resolve_root(params).resolve()) if source == "epfl" else ""
    key = (source, where, *(params.get(k) for k in ("synthetic_slices", "synthetic_height", "synthetic_width",
                                                    "mask_threshold", "convert_images")),
           bool(params.get("evaluate_test", True)))
    return _identity(key, dict(params))


@functools.lru_cache(maxsize=VOLUME_CACHE_SIZE)
def _identity_cached(key: tuple, params_items: tuple) -> str:
    from mitolib.core.provenance import array_fingerprint

    params = dict(params_items)
    splits = ("train", "test") if params.get("evaluate_test", True) else ("train",)
    return array_fingerprint(*(array for split in splits for array in resolve_volumes(params, split)))


def _identity(key: tuple, params: dict) -> str:
    """The fingerprint for one data setting, computed once per process (a study asks for it per run)."""
    wanted = ("data_source", "data_root", "synthetic_slices", "synthetic_height", "synthetic_width",
              "mask_threshold", "convert_images", "evaluate_test")
    return _identity_cached(key, tuple((k, params.get(k)) for k in wanted))


class DataReport(NamedTuple):
    """What ``check_data`` found: per-split facts, the problems, and the verdict ``ok``."""

    root: Path
    splits: dict
    problems: list

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"data folder: {self.root}"]
        for split, facts in self.splits.items():
            lines.append(f"{split}:")
            lines += [f"  {key}: {value}" for key, value in facts.items()]
        lines += [f"problem: {problem}" for problem in self.problems]
        verdict = "OK: both splits load, every image has its mask, masks are binary" if self.ok else \
            f"NOT OK: {len(self.problems)} problem(s); training would stop with the same error"
        return "\n".join(lines + [f"verdict: {verdict}"])


def foreground_problem(fraction: float, what: str) -> str | None:
    """What is wrong with masks of foreground ``fraction`` (empty, inverted, implausible for mitochondria), or
    ``None``; the one rule ``mitolib data check`` reports and training refuses."""
    if FOREGROUND_PLAUSIBLE[0] <= fraction <= FOREGROUND_PLAUSIBLE[1]:
        return None
    kind = ("no mitochondria at all: empty masks" if fraction == 0 else
            "most pixels are foreground: inverted masks (0 for mitochondria)?" if fraction > 0.5 else
            "an implausible foreground fraction for mitochondria in EM")
    return (f"{what} are {100 * fraction:.2f} % foreground: {kind}; expected "
            f"{100 * FOREGROUND_PLAUSIBLE[0]:g}–{100 * FOREGROUND_PLAUSIBLE[1]:g} % (the EPFL volumes: about 5 %); "
            "check the masks")


SYNTHETIC_NAME = "synthetic EM-like volume (mitolib.data.synthetic)"


def describe_training_data(params: Mapping, images: np.ndarray, masks: np.ndarray) -> dict:
    """What a run's training data are, as far as their pixels prove it: ``name``, ``citation``, ``doi`` and
    ``pixel_size_nm`` for the EPFL training volume (checked against its checksums) or the generated volume;
    all ``None`` for anyone else's data, which mitolib does not know."""
    if params.get("data_source") == "synthetic":
        return {"name": SYNTHETIC_NAME, "citation": None, "doi": None, "pixel_size_nm": None}
    if is_epfl_training_volume(images, masks):
        return {"name": EPFL_NAME, "citation": EPFL_CITATION, "doi": EPFL_DOI, "pixel_size_nm": EPFL_PIXEL_SIZE_NM}
    return {"name": None, "citation": None, "doi": None, "pixel_size_nm": None}


def check_data(root, *, threshold: float | None = None, convert: bool = False) -> DataReport:
    """Load both splits of ``root`` and report counts, shapes, dtypes, pairing, mask values and
    foreground fraction per split; ``report.ok`` is the verdict and ``str(report)`` the text."""
    splits, problems = {}, []
    for split in SPLITS:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                images, masks, info = _load(Path(root), split, threshold, convert)
        except DataError as error:
            problems.append(f"{split}: {error}")
            continue
        inside, outside = images[masks == 1], images[masks == 0]
        problem = foreground_problem(float(masks.mean()), f"{split}: {Path(root) / split} masks")
        if problem:
            problems.append(problem)
        splits[split] = {
            "layout": info["layout"], "pairing": info["pairing"], "files": info["files"],
            "slices": images.shape[0], "slice shape": f"{images.shape[1]} x {images.shape[2]}",
            "image dtype": info["image_dtype"] + (" (converted to uint8)" if caught else ""),
            "mask values": info["mask_values"], "foreground": f"{100 * masks.mean():.3f} %",
            "mean intensity inside / outside masks": f"{inside.mean() if inside.size else float('nan'):.1f} / "
                                                     f"{outside.mean() if outside.size else float('nan'):.1f}",
        }
    return DataReport(Path(root), splits, problems)
