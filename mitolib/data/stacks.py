"""A user's EM stack on disk: opened lazily, checked before any model is loaded, and masks written safely.

Inputs (:func:`open_stack`): a multi-page TIFF or OME-TIFF (``.tif``/``.tiff``), a folder of 2-D slices
(PNG or TIFF, sorted by their names in natural order: ``s2`` before ``s10``), or a Zarr array (a
``.zarr`` folder).  A :class:`Stack` reads one slice at a time, so a stack larger than memory works,
and knows its pixel size when the file says it (OME ``PhysicalSizeX``, ImageJ ``unit`` with TIFF
resolution).  Intensities: uint8 as acquired; other integer or float data only with ``convert``, mapped
linearly from the stack's [min, max] to [0, 255] (floats already in [0, 1] are multiplied by 255), the
rule of ``mitolib data check --convert``.

Outputs (:func:`write_stack`): a uint8 TIFF (OME-TIFF when the name ends in ``.ome.tif``) or a Zarr
array, written slice by slice under a temporary name and renamed when complete, so an interrupted run
leaves nothing that looks finished.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from mitolib.data.volumes import SLICE_SUFFIXES
from mitolib.core.errors import DataError


TIFF_SUFFIXES = (".tif", ".tiff")
ZARR_SUFFIX = ".zarr"
UINT8_MAX = 255
RGB_CHANNELS = (3, 4)
NM_PER_UNIT = {"nm": 1.0, "nanometer": 1.0, "µm": 1000.0, "um": 1000.0, "micron": 1000.0, "micrometer": 1000.0,
               "\\u00B5m": 1000.0, "mm": 1e6, "m": 1e9, "å": 0.1, "angstrom": 0.1}
CM_NM, INCH_NM = 1e7, 2.54e7  # TIFF ResolutionUnit 3 (centimetre) and 2 (inch), in nanometres
SCREEN_DPI = (72, 96, 150, 200, 300, 600)  # dots per inch that image programs write by default: not a physical size


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class Stack:
    """A grayscale volume ``(S, H, W)`` read slice by slice; ``stack[i]`` is uint8 ``(H, W)``."""

    def __init__(self, path: Path, kind: str, shape: tuple, dtype, reader, pixel_size_nm: float | None,
                 convert: bool = False, zarr_chunks: tuple | None = None, pixel_size_from: str = ""):
        self.path, self.kind, self.shape, self.dtype = path, kind, tuple(int(n) for n in shape), np.dtype(dtype)
        self.pixel_size_nm, self.zarr_chunks = pixel_size_nm, zarr_chunks
        self.pixel_size_from = pixel_size_from or ("the file's metadata" if pixel_size_nm else "none stated")
        self.z_spacing_nm, self.z_spacing_from = None, "none stated"  # slice spacing, where the file states it
        self.ngff = False  # an OME-Zarr group: outputs of it are written as OME-Zarr too
        self._reader = reader
        self.intensity = "as acquired (uint8)"
        self._range = None
        if self.dtype != np.uint8:
            if not convert:
                raise DataError(
                    f"{path}: the images are {self.dtype}, but the model was trained on 8-bit EM (uint8); pass "
                    "--convert to map this stack's intensity range [min, max] linearly to 0-255 (float data in "
                    "[0, 1] is multiplied by 255), or convert it to 8 bits yourself")
            self._range = self._intensity_range()

    def __len__(self) -> int:
        return self.shape[0]

    def _intensity_range(self) -> tuple[float, float]:
        low, high = np.inf, -np.inf
        for index in range(len(self)):
            plane = self._reader(index)
            if self.dtype.kind == "f" and not np.isfinite(plane).all():
                raise DataError(f"{self.path}: slice {index} holds {int((~np.isfinite(plane)).sum())} NaN or infinite "
                                "values, which have no intensity to convert; replace them (for example with the "
                                "background value) and run again")
            low, high = min(low, float(np.min(plane))), max(high, float(np.max(plane)))
        if self.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
            self.intensity = "float values in [0, 1] multiplied by 255"
            return 0.0, 1.0
        self.intensity = f"{self.dtype} rescaled linearly from [{low:g}, {high:g}] to [0, 255]"
        return low, high

    def __getitem__(self, index: int | slice) -> np.ndarray:
        if isinstance(index, slice):  # stack[a:b]: slices a to b-1 as (n, H, W), as a NumPy volume slices
            return self.read(*index.indices(len(self))[:2])
        plane = np.asarray(self._reader(index))
        if self._range is None:
            return plane
        low, high = self._range
        span = max(high - low, np.finfo(np.float32).eps)
        return np.clip(np.rint((plane.astype(np.float32) - low) * (UINT8_MAX / span)), 0, UINT8_MAX).astype(np.uint8)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Slices ``start`` to ``stop`` (exclusive) as uint8 ``(n, H, W)``."""
        return np.stack([self[i] for i in range(start, stop)]) if stop > start else np.empty((0, *self.shape[1:]),
                                                                                             np.uint8)


def _check_shape(path: Path, shape: tuple) -> tuple:
    """``(S, H, W)`` for a 2-D or 3-D grayscale shape; an error naming the fix otherwise."""
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3 and shape[-1] in RGB_CHANNELS and shape[0] > 16 and shape[1] > 16:
        raise DataError(f"{path}: shape {shape} looks like one RGB(A) image; EM is grayscale: save it as one "
                        "channel (for example Fiji: Image > Type > 8-bit)")
    if len(shape) == 4 and shape[-1] in RGB_CHANNELS:
        raise DataError(f"{path}: shape {shape} is a stack of RGB(A) images; save one grayscale channel per slice")
    if len(shape) != 3:
        raise DataError(f"{path}: {len(shape)} dimensions {shape}; expected a 2-D slice or a 3-D stack "
                        "(slices, height, width): split channels or time points into separate stacks")
    if 0 in shape:
        raise DataError(f"{path}: the stack is empty (shape {shape})")
    return shape


def _tiff_pixel_size(tif: tifffile.TiffFile) -> tuple[float | None, str]:
    """``(pixel size in nm, where it came from)`` from OME-XML ``PhysicalSizeX`` (with a length unit), ImageJ's
    ``unit`` and the X resolution, or a centimetre or inch resolution; ``(None, why not)`` when the file states
    no physical size: no resolution, a unit that is not a length (OME's ``pixel``), or a screen or print
    resolution in dots per inch (72, 96, 150, 300, ...), which says nothing about the specimen."""
    if tif.ome_metadata:
        try:
            root = ElementTree.fromstring(tif.ome_metadata)
            for element in root.iter():
                if element.tag.endswith("Pixels") and element.get("PhysicalSizeX"):
                    unit = element.get("PhysicalSizeXUnit", "µm")  # OME's default unit
                    factor = NM_PER_UNIT.get(unit.lower())
                    if factor is None:
                        return None, f"OME-XML PhysicalSizeX in {unit!r}, not a length unit"
                    return float(element.get("PhysicalSizeX")) * factor, f"OME-XML PhysicalSizeX ({unit})"
        except (ElementTree.ParseError, ValueError):
            return None, "unreadable OME-XML"
    page = tif.pages[0]
    resolution = page.tags.get("XResolution")
    if resolution is None:
        return None, "no resolution tag"
    numerator, denominator = resolution.value
    if not numerator:
        return None, "a zero resolution"
    per_unit = denominator / numerator  # units per pixel
    unit = (tif.imagej_metadata or {}).get("unit")
    if unit:
        factor = NM_PER_UNIT.get(str(unit).lower())
        return (per_unit * factor, f"ImageJ unit {unit!r} and resolution") if factor else (
            None, f"ImageJ unit {unit!r}, not a length unit")
    resolution_unit = page.tags.get("ResolutionUnit")
    code = int(resolution_unit.value) if resolution_unit is not None else 1
    if code == 2 and round(numerator / denominator) in SCREEN_DPI:
        return None, f"a resolution of {numerator / denominator:g} dots per inch (a screen or print default)"
    if code in (2, 3):
        return per_unit * {2: INCH_NM, 3: CM_NM}[code], f"TIFF resolution per {'inch' if code == 2 else 'centimetre'}"
    return None, "a resolution without a unit"


def _tiff_z_spacing(tif: tifffile.TiffFile) -> tuple[float | None, str]:
    """``(slice spacing in nm, where it came from)`` from OME-XML ``PhysicalSizeZ`` or ImageJ's ``spacing`` (in
    its ``unit``); ``(None, "none stated")`` otherwise."""
    if tif.ome_metadata:
        try:
            root = ElementTree.fromstring(tif.ome_metadata)
            for element in root.iter():
                if element.tag.endswith("Pixels") and element.get("PhysicalSizeZ"):
                    unit = element.get("PhysicalSizeZUnit", "µm")
                    factor = NM_PER_UNIT.get(unit.lower())
                    if factor:
                        return float(element.get("PhysicalSizeZ")) * factor, f"OME-XML PhysicalSizeZ ({unit})"
        except (ElementTree.ParseError, ValueError):
            pass
    meta = tif.imagej_metadata or {}
    factor = NM_PER_UNIT.get(str(meta.get("unit", "")).lower())
    if meta.get("spacing") and factor:
        return float(meta["spacing"]) * factor, f"ImageJ spacing ({meta['unit']})"
    return None, "none stated"


def _open_tiff(path: Path, convert: bool) -> Stack:
    try:
        tif = tifffile.TiffFile(path)
        series = tif.series[0]
        shape, dtype = series.shape, series.dtype
        pixel_size, pixel_size_from = _tiff_pixel_size(tif)
        z_spacing, z_spacing_from = _tiff_z_spacing(tif)
        pages = series.pages if len(series.pages) > 1 else None
    except Exception as exc:
        raise DataError(f"{path}: unreadable TIFF ({type(exc).__name__}: {exc}); the file is truncated or not a "
                        "TIFF, export it again") from exc
    shape = _check_shape(path, tuple(shape))
    if pages is not None and len(pages) != shape[0]:
        raise DataError(f"{path}: {len(pages)} pages for {shape[0]} slices; save one page per slice")

    def reader(index: int) -> np.ndarray:
        try:
            if pages is not None:
                plane = pages[index].asarray()
            else:  # one page: a slice, or a few slices stored as its samples (tifffile writes (3 or 4, H, W) so)
                whole = series.asarray()
                plane = whole.reshape(shape)[index] if whole.size == int(np.prod(shape)) else whole
        except Exception as exc:
            raise DataError(f"{path}: slice {index} is unreadable ({type(exc).__name__}: {exc}); "
                            "the file is truncated, export it again") from exc
        return plane.reshape(shape[1:])

    stack = Stack(path, "tiff", shape, dtype, reader, pixel_size, convert, pixel_size_from=pixel_size_from)
    stack.z_spacing_nm, stack.z_spacing_from = z_spacing, z_spacing_from
    return stack


def _read_slice_file(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); export this slice again or remove it")
    try:
        if path.suffix.lower() == ".png":
            with Image.open(path) as handle:
                return np.array(handle)
        return tifffile.imread(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc}); the file is truncated or not an image, "
                        "replace it") from exc


def _open_folder(path: Path, convert: bool) -> Stack:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in SLICE_SUFFIXES and not p.name.startswith(".")),
                   key=_natural_key)
    if not files:
        raise DataError(f"{path}: no slices (PNG or TIFF files) in this folder")
    suffixes = sorted({p.suffix.lower().replace(".tiff", ".tif") for p in files})
    if len(suffixes) > 1:
        raise DataError(f"{path}: slices of several formats ({', '.join(suffixes)}); keep one format per stack")
    first = _read_slice_file(files[0])
    if first.ndim != 2:
        _check_shape(files[0], first.shape)
        raise DataError(f"{files[0]}: shape {first.shape} is not one grayscale slice; save single-channel 2-D images")
    shape = (len(files), *first.shape)
    for other in files[1:]:  # headers only where the format allows, so a large folder is checked quickly
        try:
            with Image.open(other) as handle:
                size, mode = (handle.height, handle.width), handle.mode
        except Exception as exc:
            raise DataError(f"{other}: unreadable ({type(exc).__name__}: {exc}); replace it") from exc
        if size != first.shape:
            raise DataError(f"{other}: slice of {size[0]} x {size[1]} pixels, but {files[0].name} has "
                            f"{first.shape[0]} x {first.shape[1]}; every slice of a stack needs the same shape")
        if mode in ("RGB", "RGBA", "P"):
            raise DataError(f"{other}: colour image (mode {mode}); save grayscale slices")

    def reader(index: int) -> np.ndarray:
        return _read_slice_file(files[index])

    return Stack(path, "folder", shape, first.dtype, reader, None, convert)


NGFF_VERSION = "0.4"  # the OME-Zarr (NGFF) multiscales written: a group with the array "0", axes z, y, x in nm


def _ngff_level0(path: Path):
    """``(array, pixel size nm, z spacing nm, source)`` of an OME-Zarr group's first multiscale level (NGFF
    0.4 attributes, or 0.5 under ``ome``), or ``None`` for a plain Zarr array."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # noqa: BLE001 - a plain array, not a group
        return None
    attrs = dict(group.attrs)
    multiscales = (attrs.get("ome") or attrs).get("multiscales")
    if not multiscales:
        raise DataError(f"{path}: a Zarr group without OME-Zarr multiscales; give the image array's folder inside it")
    scales = multiscales[0]
    dataset = scales["datasets"][0]
    array = group[dataset["path"]]
    axes = [axis if isinstance(axis, dict) else {"name": axis} for axis in scales.get("axes", [])]
    scale = next((t["scale"] for t in dataset.get("coordinateTransformations", []) if t.get("type") == "scale"),
                 [1.0] * array.ndim)
    sizes = {}
    for axis, value in zip(axes, scale):
        factor = NM_PER_UNIT.get(str(axis.get("unit", "")).lower())
        sizes[axis["name"]] = value * factor if factor else None
    return array, sizes.get("x"), sizes.get("z"), f"OME-Zarr multiscales level 0 ({dataset['path']})"


def _open_zarr(path: Path, convert: bool) -> Stack:
    try:
        import zarr

        level0 = _ngff_level0(path)
        array = level0[0] if level0 else zarr.open_array(str(path), mode="r")
    except ImportError as exc:
        raise DataError(f"{path}: reading Zarr needs the zarr package (pip install zarr)") from exc
    except Exception as exc:
        raise DataError(f"{path}: not a readable Zarr array ({type(exc).__name__}: {exc}); give the array's "
                        "folder (not a group)") from exc
    shape = _check_shape(path, tuple(array.shape))
    if level0:
        pixel_size, z_spacing, source = level0[1:]
    else:
        pixel_size, z_spacing, source = array.attrs.get("pixel_size_nm"), None, "Zarr attribute pixel_size_nm"
    two_d = array.ndim == 2

    def reader(index: int) -> np.ndarray:
        return array[:] if two_d else array[index]

    stack = Stack(path, "zarr", shape, array.dtype, reader, float(pixel_size) if pixel_size else None, convert,
                  zarr_chunks=tuple(array.chunks) if not two_d else None, pixel_size_from=source if pixel_size else "")
    stack.ngff = bool(level0)
    if z_spacing:
        stack.z_spacing_nm, stack.z_spacing_from = float(z_spacing), source
    return stack


def open_stack(path: str | Path, *, convert: bool = False) -> Stack:
    """The stack at ``path`` (a TIFF, a folder of slices or a Zarr array), checked but not read."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found; give a TIFF stack, a folder of slices or a .zarr array")
    if path.is_dir() and (path.suffix.lower() == ZARR_SUFFIX or (path / ".zarray").exists()
                          or (path / "zarr.json").exists()):
        return _open_zarr(path, convert)
    if path.is_dir():
        return _open_folder(path, convert)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise DataError(f"{path}: unsupported input {path.suffix!r}; give a TIFF stack (.tif, .tiff, .ome.tif), "
                        "a folder of PNG/TIFF slices or a .zarr array")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); export the stack again")
    return _open_tiff(path, convert)


def _overlaps(one: Path, other: Path) -> bool:
    """Whether two paths are the same file or folder, or one lies inside the other (links resolved)."""
    one, other = one.resolve(), other.resolve()
    return one == other or one in other.parents or other in one.parents


def check_output(path: str | Path, *, overwrite: bool = False, reads=()) -> Path:
    """``path`` as a place for a mask stack (``.tif``, ``.ome.tif`` or ``.zarr``); refuses one that exists
    unless ``overwrite``, a folder that is not a Zarr store, and any path that is (or holds, or lies inside)
    one the command reads (``reads``: the input stack, the model, the other outputs): ``--overwrite`` never
    replaces what a command reads."""
    path = Path(path)
    if path.suffix.lower() not in (*TIFF_SUFFIXES, ZARR_SUFFIX):
        raise DataError(f"{path}: write masks as .tif, .ome.tif or .zarr")
    for read in reads:
        if read is not None and _overlaps(path, Path(read)):
            raise DataError(f"{path}: this is {read}, which the command reads; it would be destroyed, so it is "
                            "never written, --overwrite or not; choose another output name")
    if path.is_dir() and path.suffix.lower() != ZARR_SUFFIX:
        raise DataError(f"{path}: is a folder; give a file name ending in .tif, .ome.tif or .zarr")
    if path.exists() and not overwrite:
        raise DataError(f"{path}: already exists; pass --overwrite to replace it, or choose another name")
    return path


def write_stack(path: str | Path, planes, shape: tuple, *, dtype="uint8", pixel_size_nm: float | None = None,
                zarr_chunks: tuple | None = None, overwrite: bool = False, ngff: bool = False,
                z_spacing_nm: float | None = None) -> Path:
    """Write the ``(H, W)`` arrays of the iterator ``planes`` as one stack of ``shape`` to ``path``.

    The slices are consumed one at a time (TIFF pages are streamed by tifffile; Zarr slices written as
    they come) into ``.<name>.partial`` beside ``path``, which is renamed to ``path`` only when all
    ``shape[0]`` slices were written; on any error the partial file is removed and the error raised.
    TIFF outputs carry the pixel size as resolution in centimetres (OME-TIFF: ``PhysicalSizeX/Y`` in nm, and
    ``PhysicalSizeZ`` with ``z_spacing_nm``).  With ``ngff``, a ``.zarr`` output is an OME-Zarr group (NGFF 0.4:
    the array ``0``, axes z, y, x in nanometres, the scale where known).
    """
    path = check_output(path, overwrite=overwrite)
    shape = tuple(int(n) for n in shape)
    tmp = path.with_name(f".{path.name}.partial")
    _remove(tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    counted = _Counted(planes, shape, dtype)
    try:
        if path.suffix.lower() == ZARR_SUFFIX:
            import zarr

            chunks = zarr_chunks or (1, *shape[1:])
            if ngff:
                group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
                array = group.create_array("0", shape=shape, chunks=chunks, dtype=dtype)
                known = pixel_size_nm or 1.0  # NGFF needs a scale: 1 where no size is known (and no unit)
                unit = {"unit": "nanometer"} if pixel_size_nm else {}
                group.attrs["multiscales"] = [{
                    "version": NGFF_VERSION, "name": path.stem,
                    "axes": [{"name": name, "type": "space", **unit} for name in ("z", "y", "x")],
                    "datasets": [{"path": "0", "coordinateTransformations": [
                        {"type": "scale", "scale": [float(z_spacing_nm or known), float(known), float(known)]}]}]}]
            else:
                array = zarr.open_array(str(tmp), mode="w", shape=shape, chunks=chunks, dtype=dtype)
            if pixel_size_nm and not ngff:
                array.attrs["pixel_size_nm"] = float(pixel_size_nm)
            for index, plane in enumerate(counted):
                array[index] = plane
        else:
            ome = path.name.lower().endswith((".ome.tif", ".ome.tiff"))
            options = {}
            if ome:
                options["metadata"] = {"axes": "ZYX", **({"PhysicalSizeX": pixel_size_nm, "PhysicalSizeXUnit": "nm",
                                                           "PhysicalSizeY": pixel_size_nm, "PhysicalSizeYUnit": "nm"}
                                                          if pixel_size_nm else {}),
                                       **({"PhysicalSizeZ": z_spacing_nm, "PhysicalSizeZUnit": "nm"} if z_spacing_nm
                                          else {})}
            elif pixel_size_nm:
                per_cm = CM_NM / pixel_size_nm
                options.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
            with tifffile.TiffWriter(tmp, ome=ome) as tif:
                tif.write(iter(counted), shape=shape, dtype=dtype, **options)
        if counted.count != shape[0]:
            raise DataError(f"{path}: {counted.count} of {shape[0]} slices were produced; nothing was written")
        _remove(path)
        os.replace(tmp, path)
        return path
    finally:
        _remove(tmp)


class _Counted:
    """Iterates ``planes``, checking each against ``shape[1:]`` and counting them."""

    def __init__(self, planes, shape, dtype):
        self.planes, self.shape, self.dtype, self.count = planes, shape, np.dtype(dtype), 0

    def __iter__(self):
        for plane in self.planes:
            plane = np.asarray(plane)
            if plane.shape != self.shape[1:]:
                raise ValueError(f"slice {self.count} has shape {plane.shape}, expected {self.shape[1:]}")
            self.count += 1
            yield plane.astype(self.dtype, copy=False)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
