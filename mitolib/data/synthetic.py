"""EM-like synthetic volumes with exact ground truth, for offline runs and tests.

A volume has cell outlines (dark membranes of a Voronoi tessellation whose centres drift slowly
from slice to slice), textured cytoplasm, and dark elongated mitochondria with a darker rim and
striped cristae.  Mitochondria are ellipsoids through several slices, so neighbouring slices look
alike as in a FIB-SEM stack.  Intensities follow the EPFL data: about 110 inside mitochondria and
about 142 outside; mitochondria cover about 5-6 % of the voxels.

The data do not depend on a training seed: ``make_split`` uses the fixed ``DATA_SEED`` and a
different stream for each split, so train and test volumes differ and never change between runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

DATA_SEED = 2012                    # fixed seed of the synthetic data (the EPFL data's year)
SPLIT_STREAMS = {"train": 0, "test": 1}
REFERENCE_SIDE = 256                # slice side (pixels) at which object sizes below apply in full
MIN_SIZE_FACTOR = 0.35              # smallest scaling of object sizes on small slices
CELL_SPACING = 72.0                 # distance between cell centres on the jittered grid (pixels)
CELL_JITTER = 0.35                  # random offset of a cell centre, as a fraction of the spacing
CELL_WANDER = 0.2                   # amplitude of a cell centre's in-plane wander through the stack (x spacing)
WANDER_PERIOD = (40.0, 120.0)       # slices per full wander cycle
VORONOI_STEP = 4                    # cell outlines are computed on a grid this much coarser, then upsampled
MEMBRANE_WIDTH = 5.0                # pixels
TEXTURE_STEP = 8                    # cytoplasm texture grain (pixels)
TEXTURE_SMOOTHING = (1.0, 0.7, 0.7)  # Gaussian sigma of the coarse texture (slices, grains, grains)
MITO_LONG_RADIUS = (16.0, 40.0)     # semi-axis along the mitochondrion (pixels)
MITO_SHORT_RADIUS = (8.0, 14.0)     # semi-axis across it (pixels)
MITO_HALF_DEPTH = (3, 9)            # slices from the middle to either end
VESICLE_RADIUS = (2.0, 4.5)         # small dark vesicles in the cytoplasm (pixels, spheres)
VESICLE_DENSITY = 1.5e-4            # vesicle centres per voxel
VESICLE_LEVEL = 110.0
MITO_DRIFT = 0.8                    # in-plane drift of a mitochondrion's centre per slice (pixels)
MAX_REJECTIONS = 200                # give up placing after this many rejected candidates in a row
TARGET_FOREGROUND = 0.055           # fraction of voxels inside mitochondria ...
FOREGROUND_TOLERANCE = 0.0025       # ... within this: stop inside the band, never place beyond it
CYTOPLASM_LEVEL = 148.0
CYTOPLASM_TEXTURE = 9.0
MEMBRANE_LEVEL = 75.0
MITO_LEVEL = 114.0
MITO_RIM_LEVEL = 92.0
MITO_RIM_START = 0.8                # normalised radius where the darker outer membrane begins
CRISTAE_AMPLITUDE = 12.0
CRISTAE_PERIOD = 7.0                # pixels
BLUR_SIGMA = 0.8                    # point-spread blur (pixels)
NOISE_SIGMA = 9.0                   # additive Gaussian noise (grey levels)
UINT8_MAX = 255


def split_seed(split: str, seed: int = DATA_SEED) -> int:
    """The seed of one split's volume, derived from ``seed``: train and test never share a stream."""
    if split not in SPLIT_STREAMS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_STREAMS)}, got {split!r}")
    return int(np.random.SeedSequence([seed, SPLIT_STREAMS[split]]).generate_state(1)[0])


def make_split(split: str, n_slices: int, height: int, width: int, seed: int = DATA_SEED):
    """``make_volume`` for one split (``"train"`` or ``"test"``) from the fixed data seed."""
    return make_volume(n_slices, height, width, split_seed(split, seed))


def make_volume(n_slices: int, height: int, width: int, seed: int):
    """An EM-like volume and its ground truth, deterministic in ``seed``.

    Returns ``(images, masks)``: uint8 arrays of shape ``(n_slices, height, width)``; masks are
    in {0, 1} (1 = mitochondrion).
    """
    if min(n_slices, height, width) < 1:
        raise ValueError(f"volume shape must be positive, got {(n_slices, height, width)}")
    rng = np.random.default_rng(seed)
    size = float(np.clip(min(height, width) / REFERENCE_SIDE, MIN_SIZE_FACTOR, 1.0))
    shape = (n_slices, height, width)
    membranes = _membranes(rng, shape, size)
    texture = _texture(rng, shape)
    vesicles = _vesicles(rng, shape, size)
    masks, radius, along = _mitochondria(rng, shape, size)
    image = CYTOPLASM_LEVEL + CYTOPLASM_TEXTURE * texture
    image = image * (1.0 - vesicles) + VESICLE_LEVEL * vesicles
    image = image * (1.0 - membranes) + MEMBRANE_LEVEL * membranes
    inside = masks.astype(bool)
    cristae = MITO_LEVEL + CRISTAE_AMPLITUDE * np.cos(2.0 * np.pi * along[inside] / (CRISTAE_PERIOD * size))
    image[inside] = np.where(radius[inside] > MITO_RIM_START, MITO_RIM_LEVEL, cristae)
    image = ndimage.gaussian_filter(image, sigma=(0.0, BLUR_SIGMA, BLUR_SIGMA))
    image += rng.normal(0.0, NOISE_SIGMA, size=shape).astype(np.float32)
    return np.clip(np.rint(image), 0, UINT8_MAX).astype(np.uint8), masks


def _membranes(rng, shape, size):
    """Membrane strength in [0, 1], float32 (S, H, W): edges of Voronoi cells whose centres wander slowly."""
    n_slices, height, width = shape
    spacing = CELL_SPACING * size
    rows, cols = np.meshgrid(np.arange(-spacing / 2, height + spacing, spacing),
                             np.arange(-spacing / 2, width + spacing, spacing), indexing="ij")
    start = np.stack([rows.ravel(), cols.ravel()], axis=1)
    start += rng.uniform(-CELL_JITTER * spacing, CELL_JITTER * spacing, size=start.shape)
    amplitude = rng.uniform(0.0, CELL_WANDER * spacing, size=start.shape)
    frequency = 2.0 * np.pi / rng.uniform(*WANDER_PERIOD, size=start.shape)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=start.shape)
    grid = np.stack(np.meshgrid(np.arange(0, height + VORONOI_STEP, VORONOI_STEP),
                                np.arange(0, width + VORONOI_STEP, VORONOI_STEP), indexing="ij"), axis=-1)
    upsampled = (grid.shape[1] * VORONOI_STEP, grid.shape[0] * VORONOI_STEP)
    out = np.empty(shape, dtype=np.float32)
    for z in range(n_slices):
        centres = start + amplitude * np.sin(frequency * z + phase)
        nearest, _ = cKDTree(centres).query(grid.reshape(-1, 2), k=2)
        gap = (nearest[:, 1] - nearest[:, 0]).astype(np.float32).reshape(grid.shape[:2])
        full = Image.fromarray(gap, mode="F").resize(upsampled, Image.Resampling.BILINEAR)
        out[z] = np.asarray(full)[:height, :width]
    # the gap d2 - d1 is twice the distance to the nearest cell edge
    return np.clip(1.0 - out / MEMBRANE_WIDTH, 0.0, 1.0)


def _texture(rng, shape):
    """Smooth zero-mean, unit-variance texture, float32 (S, H, W), correlated across slices."""
    n_slices, height, width = shape
    coarse = rng.normal(size=(n_slices, height // TEXTURE_STEP + 2, width // TEXTURE_STEP + 2)).astype(np.float32)
    coarse = ndimage.gaussian_filter(coarse, sigma=TEXTURE_SMOOTHING)
    coarse /= coarse.std() + np.finfo(np.float32).eps
    size = ((width // TEXTURE_STEP + 2) * TEXTURE_STEP, (height // TEXTURE_STEP + 2) * TEXTURE_STEP)
    return np.stack([np.asarray(Image.fromarray(c, mode="F").resize(size, Image.Resampling.BICUBIC))[:height, :width] for c in coarse])


def _vesicles(rng, shape, size):
    """Vesicle strength in {0, 1}, float32 (S, H, W): small spheres scattered through the volume."""
    out = np.zeros(shape, dtype=np.float32)
    count = rng.poisson(VESICLE_DENSITY * out.size)
    centres = rng.uniform((0, 0, 0), shape, size=(count, 3))
    radii = rng.uniform(*VESICLE_RADIUS, size=count) * size
    for (cz, cy, cx), r in zip(centres, radii):
        for z in range(max(0, int(cz - r)), min(shape[0], int(cz + r) + 1)):
            rz = np.sqrt(max(r * r - (z - cz) ** 2, 0.0))
            top, left = max(0, int(cy - rz)), max(0, int(cx - rz))
            yy, xx = np.ogrid[top:min(shape[1], int(cy + rz) + 1), left:min(shape[2], int(cx + rz) + 1)]
            out[z, top:top + yy.shape[0], left:left + xx.shape[1]][(yy - cy) ** 2 + (xx - cx) ** 2 <= rz * rz] = 1.0
    return out


def _mitochondria(rng, shape, size):
    """Masks uint8 (S, H, W) in {0, 1}; normalised radius and along-axis coordinate, float32 (S, H, W)."""
    n_slices, height, width = shape
    masks = np.zeros(shape, dtype=np.uint8)
    radius = np.zeros(shape, dtype=np.float32)
    along = np.zeros(shape, dtype=np.float32)
    low, high = ((TARGET_FOREGROUND + sign * FOREGROUND_TOLERANCE) * masks.size for sign in (-1, 1))
    covered = rejected = 0
    while covered < low and rejected < MAX_REJECTIONS:
        cz = rng.integers(0, n_slices)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        long_r, short_r = rng.uniform(*MITO_LONG_RADIUS) * size, rng.uniform(*MITO_SHORT_RADIUS) * size
        half_depth = int(rng.integers(MITO_HALF_DEPTH[0], MITO_HALF_DEPTH[1] + 1))
        angle, drift = rng.uniform(0, np.pi), rng.normal(0.0, MITO_DRIFT, size=2)
        cos, sin = np.cos(angle), np.sin(angle)
        pieces = []
        for z in range(max(0, cz - half_depth), min(n_slices, cz + half_depth + 1)):
            shrink = np.sqrt(1.0 - ((z - cz) / (half_depth + 1)) ** 2)
            a, b = long_r * shrink, short_r * shrink
            y0, x0 = cy + drift[0] * (z - cz), cx + drift[1] * (z - cz)
            top, bottom = max(0, int(y0 - a) - 1), min(height, int(y0 + a) + 2)
            left, right = max(0, int(x0 - a) - 1), min(width, int(x0 + a) + 2)
            if top >= bottom or left >= right:
                continue
            yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
            u = (xx - x0) * cos + (yy - y0) * sin
            v = -(xx - x0) * sin + (yy - y0) * cos
            r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
            pieces.append(((z, slice(top, bottom), slice(left, right)), r <= 1.0, r, u))
        added = sum(int(inside.sum()) for _, inside, _, _ in pieces)
        overlaps = any(masks[window][inside].any() for window, inside, _, _ in pieces)
        if not added or overlaps or (covered and covered + added > high):
            rejected += 1
            continue  # mitochondria do not overlap, and the fraction stays in its band
        covered, rejected = covered + added, 0
        for window, inside, r, u in pieces:
            masks[window][inside] = 1
            radius[window][inside] = r[inside]
            along[window][inside] = u[inside]
    return masks, radius, along


def write_slice_folders(root, n_slices: int, height: int, width: int, seed: int = DATA_SEED) -> Path:
    """Write ``root/{train,test}/{images,masks}/<split>_<zzz>.png`` (masks as {0, 255}); returns ``root``.

    The per-slice layout of the EPFL copy, so every loader path can run without the real data.
    """
    root = Path(root)
    for split in SPLIT_STREAMS:
        images, masks = make_split(split, n_slices, height, width, seed)
        for kind, volume in (("images", images), ("masks", masks * UINT8_MAX)):
            folder = root / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for index, plane in enumerate(volume):
                Image.fromarray(plane).save(folder / f"{split}_{index:03d}.png")
    return root
