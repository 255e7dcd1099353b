"""Mitochondria as objects: 3-D connected components, their volumes, and matching prediction to ground truth.

The protocol, one for every run, the book and ``mitolib predict``: components are labelled with
``scipy.ndimage.label`` in 3-D with face connectivity (6 neighbours); a predicted object matches a true one
when their voxel IoU is at least 0.5 (also reported at 0.75; at 0.5 or more each object has at most one
partner).  :func:`match_objects` counts detected, missed and false objects; :func:`object_metrics` adds object
precision, recall and F1 at both thresholds and the predicted count against the true one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage import morphology, segmentation

MATCH_IOU = 0.5
MATCH_IOUS = (0.5, 0.75)  # the matching thresholds every evaluation reports
NM3_PER_UM3 = 1e9
OBJECT_FIELDS = ("true_objects", "predicted_objects", "count_ratio",
                 *(f"object_{kind}_{round(iou * 100)}" for iou in MATCH_IOUS for kind in ("precision", "recall", "f1")))
OBJECT_COLUMNS = ["label", "voxels", "volume_um3", "z", "y", "x", "slices", "z_min", "z_max", "y_min", "y_max",
                  "x_min", "x_max", "touches_border"]


def label_objects(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``(labels, count)``: int32 labels of the 3-D (or 2-D) connected components of a binary ``mask``."""
    mask = np.asarray(mask) > 0
    labels, count = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))
    return labels.astype(np.int32, copy=False), int(count)


def object_table(mask: np.ndarray, pixel_size_nm: float, slice_thickness_nm: float | None = None) -> pd.DataFrame:
    """One row per connected component of a binary ``(S, H, W)`` mask (the per-mitochondrion table of
    ``mitolib predict --objects`` and the notebook): its label, voxel count, volume in µm³ (pixel size² x slice
    thickness, the thickness defaulting to the pixel size: isotropic voxels), centroid ``(z, y, x)`` in voxels,
    the number of slices it spans, its bounding box (inclusive voxel indices) and whether it touches the
    stack's border (then it is cut by it, and its volume is a lower bound); sorted by volume, largest first."""
    if pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}")
    labels, count = label_objects(mask)
    if count == 0:
        return pd.DataFrame(columns=OBJECT_COLUMNS)
    index = np.arange(1, count + 1)
    voxels = ndimage.sum_labels(np.ones(labels.shape, np.int64), labels, index).astype(np.int64)
    centroids = np.asarray(ndimage.center_of_mass(labels > 0, labels, index)).reshape(count, -1)
    boxes = ndimage.find_objects(labels)
    voxel_um3 = pixel_size_nm ** 2 * (slice_thickness_nm or pixel_size_nm) / NM3_PER_UM3
    table = pd.DataFrame({"label": index, "voxels": voxels, "volume_um3": voxels * voxel_um3})
    for axis, name in enumerate(("z", "y", "x")[-labels.ndim:]):
        table[name] = centroids[:, axis]
    table["slices"] = [box[0].stop - box[0].start for box in boxes] if labels.ndim == 3 else 1
    shape = labels.shape
    for axis, name in enumerate(("z", "y", "x")[-labels.ndim:]):
        table[f"{name}_min"] = [box[axis].start for box in boxes]
        table[f"{name}_max"] = [box[axis].stop - 1 for box in boxes]
    table["touches_border"] = [any(box[axis].start == 0 or box[axis].stop == shape[axis] for axis in range(labels.ndim))
                               for box in boxes]
    return table.sort_values("voxels", ascending=False, kind="stable").reset_index(drop=True)


def match_objects(prediction: np.ndarray, truth: np.ndarray, iou: float = MATCH_IOU) -> dict:
    """Object-level counts of a binary ``prediction`` against a binary ``truth`` of the same shape.

    Returns ``{"true_objects", "predicted_objects", "detected", "missed", "false"}``: a true object is
    detected when one predicted object overlaps it with voxel IoU >= ``iou``; predicted objects matching
    no true object are false.  With ``iou >= 0.5`` the matching is one to one.
    """
    if np.shape(prediction) != np.shape(truth):
        raise ValueError(f"shapes differ: prediction {np.shape(prediction)} vs truth {np.shape(truth)}")
    if not 0.5 <= iou <= 1:
        raise ValueError(f"iou must be in [0.5, 1] for a one-to-one matching, got {iou}")
    matching = _match(prediction, truth, iou)
    n_pred, n_true = matching["n_pred"], matching["n_true"]
    return {"true_objects": n_true, "predicted_objects": n_pred, "detected": len(matching["true"]),
            "missed": n_true - len(matching["true"]), "false": n_pred - len(matching["pred"])}


def object_evaluation(prediction: np.ndarray, truth: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Both object-level results of a binary ``prediction`` against a binary ``truth`` from one labelling:
    the scores of :func:`object_metrics` and the table of :func:`matched_objects` (at :data:`MATCH_IOU`)."""
    if np.shape(prediction) != np.shape(truth):
        raise ValueError(f"shapes differ: prediction {np.shape(prediction)} vs truth {np.shape(truth)}")
    pred_labels, n_pred = label_objects(prediction)
    true_labels, n_true = label_objects(truth)
    pair_ious = _pair_ious(pred_labels, n_pred, true_labels, n_true)
    scores = {"true_objects": n_true, "predicted_objects": n_pred,
              "count_ratio": n_pred / n_true if n_true else float("nan")}
    for iou in MATCH_IOUS:
        matched = int((pair_ious >= iou).sum())
        suffix = f"_{round(iou * 100)}"
        scores |= {f"object_precision{suffix}": matched / n_pred if n_pred else float("nan"),
                   f"object_recall{suffix}": matched / n_true if n_true else float("nan"),
                   f"object_f1{suffix}": 2 * matched / (n_pred + n_true) if n_pred + n_true else float("nan")}
    pairs = pair_ious[pair_ious >= MATCH_IOU]
    pred_size = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    true_size = np.bincount(true_labels.ravel(), minlength=n_true + 1)
    partner = dict(zip(pairs.index.get_level_values("t"), zip(pairs.index.get_level_values("p"), pairs.to_numpy())))
    rows = [{"true_label": t, "true_voxels": int(true_size[t]),
             "predicted_label": int(partner[t][0]) if t in partner else np.nan,
             "predicted_voxels": int(pred_size[partner[t][0]]) if t in partner else np.nan,
             "iou": float(partner[t][1]) if t in partner else np.nan} for t in range(1, n_true + 1)]
    return scores, pd.DataFrame(rows, columns=MATCHED_COLUMNS)


def object_metrics(prediction: np.ndarray, truth: np.ndarray) -> dict:
    """Object-level scores of a binary ``prediction`` against a binary ``truth`` (3-D components, faces):
    ``true_objects``, ``predicted_objects``, ``count_ratio`` (predicted / true), and for each threshold of
    :data:`MATCH_IOUS` (as ``_50``, ``_75``) ``object_precision``, ``object_recall`` and ``object_f1``.  With no
    object on either side, precision, recall and F1 are NaN where they divide by zero."""
    return object_evaluation(prediction, truth)[0]


def object_ceiling(truth: np.ndarray, min_voxels: int = 0, iou: float = MATCH_IOU) -> dict:
    """The best object scores a prediction whose components all hold at least ``min_voxels`` voxels can reach
    against a binary ``truth``: a true object of ``t`` voxels can match a predicted one of ``p >= min_voxels``
    only when ``t / p >= iou`` (the overlap is at most ``t``, the union at least ``p``), so true objects smaller
    than ``iou * min_voxels`` are out of reach. Returns ``true_objects``, ``reachable_objects``, ``unreachable``,
    ``unreachable_on_border`` (of those, the ones touching the stack's border), ``unreachable_single_slice`` (of
    those, the ones drawn on one slice only), ``smallest_reachable`` (voxels; 0 when none), and with every
    reachable object matched and nothing else predicted: ``object_recall``, ``object_f1`` (precision 1) and
    ``count_ratio`` (NaN with no true object)."""
    if min_voxels < 0:
        raise ValueError(f"min_voxels must be 0 or more, got {min_voxels}")
    table = object_table(truth, pixel_size_nm=1.0)
    reachable = table["voxels"] >= iou * min_voxels
    true_objects, n_reachable = len(table), int(reachable.sum())
    recall = n_reachable / true_objects if true_objects else math.nan
    return {"true_objects": true_objects, "reachable_objects": n_reachable, "unreachable": true_objects - n_reachable,
            "unreachable_on_border": int((~reachable & table["touches_border"].astype(bool)).sum()),
            "unreachable_single_slice": int((~reachable & (table["slices"] == 1)).sum()),
            "smallest_reachable": int(table.loc[reachable, "voxels"].min()) if n_reachable else 0,
            "object_recall": recall, "object_f1": 2 * recall / (1 + recall) if true_objects else math.nan,
            "count_ratio": recall}


MATCHED_COLUMNS = ["true_label", "true_voxels", "predicted_label", "predicted_voxels", "iou"]
# Object-level post-processing, every parameter chosen on the validation slices by object F1 at IoU 0.5 (the
# smallest among ties, so a step that does not help stays off) and every step scored on the test volume:
# components smaller than a size removed (full-resolution voxels; 0 keeps everything), holes filled slice by
# slice, then touching objects split by a watershed (the depth of the distance maxima that seed it, in voxels;
# 0 splits nothing).
MIN_OBJECT_VOXELS = (0, 250, 1000, 4000, 16000)
SPLIT_DEPTHS = (0, 2, 4, 8)
CLEANUP_STEPS = ("none", "remove_small", "remove_small+fill_holes", "remove_small+fill_holes+split")
CLEANUP_COLUMNS = ["step", "min_voxels", "split_depth", "test_iou", "test_dice", *OBJECT_FIELDS]
PARAMETER_STEPS = {"min_voxels": CLEANUP_STEPS[1], "split_depth": CLEANUP_STEPS[3]}  # the step each parameter sets


def parameters_at(step: str, chosen: dict) -> dict:
    """The ``chosen`` parameters (keys of :data:`PARAMETER_STEPS`) in force after ``step`` of
    :data:`CLEANUP_STEPS`: a parameter whose step comes later is 0 (not applied)."""
    if step not in CLEANUP_STEPS:
        raise ValueError(f"unknown object step {step!r}: the steps are {', '.join(CLEANUP_STEPS)}")
    index = CLEANUP_STEPS.index(step)
    return {name: chosen[name] if index >= CLEANUP_STEPS.index(first) else 0
            for name, first in PARAMETER_STEPS.items()}


def remove_small(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """A binary ``mask`` without its 3-D components (face connectivity) of fewer than ``min_voxels`` voxels."""
    mask = np.asarray(mask) > 0
    if min_voxels <= 1:
        return mask
    labels, count = label_objects(mask)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A binary ``(S, H, W)`` mask with the holes of every slice filled (``scipy.ndimage.binary_fill_holes``)."""
    mask = np.asarray(mask) > 0
    return np.stack([ndimage.binary_fill_holes(plane) for plane in mask]) if mask.ndim == 3 else \
        ndimage.binary_fill_holes(mask)


def split_touching(mask: np.ndarray, depth: float, sampling: tuple | None = None) -> np.ndarray:
    """A binary ``mask`` whose touching objects are cut apart, its other voxels unchanged.

    Within each component (faces), the Euclidean distance to the background is computed; its maxima of dynamic
    at least ``depth`` voxels (the regional maxima of its reconstruction by dilation from the distance lowered
    by ``depth``, ``skimage.morphology.reconstruction``: two centres joined by a neck less than ``depth`` below
    the lower one are one maximum) seed a watershed of the negated distance
    (``skimage.segmentation.watershed``, face connectivity); where two parts touch by a face, the voxel of the
    part with the higher label becomes background, so each part is a component of its own. A component with one
    such maximum is left whole; ``depth`` 0 returns the mask unchanged. The cuts remove a few voxels, which the
    test IoU counts. ``sampling`` is the voxel's extent per axis in units of ``depth`` (anisotropic stacks:
    ``(slice spacing / pixel size, 1, 1)``; default isotropic). The watershed's own ``watershed_line`` is not
    used: with scikit-image 0.26 it took about a minute on a component that takes 0.02 s without it.
    """
    mask = np.asarray(mask) > 0
    if depth <= 0:
        return mask
    labels, _ = label_objects(mask)
    out = mask.copy()
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        component = np.pad(labels[box] == label, 1)  # the box's edge is background (or the volume's edge)
        distance = ndimage.distance_transform_edt(component, sampling=sampling)
        domes = morphology.reconstruction(distance - depth, distance, method="dilation")
        seeds, count = ndimage.label(morphology.local_maxima(domes, connectivity=mask.ndim) & component,
                                     structure=ndimage.generate_binary_structure(mask.ndim, mask.ndim))
        if count < 2:
            continue
        parts = segmentation.watershed(-distance, seeds, mask=component, connectivity=1)
        out[box][_cuts(parts)[(slice(1, -1),) * mask.ndim]] = False
    return out


def _cuts(parts: np.ndarray) -> np.ndarray:
    """The voxels of a label image that touch a voxel of a lower nonzero label by a face: removing them leaves no
    two labels touching."""
    cut = np.zeros(parts.shape, bool)
    for axis in range(parts.ndim):
        low = [slice(None)] * parts.ndim
        high = [slice(None)] * parts.ndim
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        a, b = parts[tuple(low)], parts[tuple(high)]
        differ = (a > 0) & (b > 0) & (a != b)
        cut[tuple(high)] |= differ & (b > a)
        cut[tuple(low)] |= differ & (a > b)
    return cut


def choose_by_object_f1(step, prediction: np.ndarray, truth: np.ndarray, candidates) -> float:
    """The parameter of ``candidates`` for which ``step(prediction, parameter)`` scores the best object F1 at IoU
    0.5 against ``truth`` (validation data; the smallest among ties)."""
    scores = {value: object_metrics(step(prediction, value), truth)["object_f1_50"] for value in candidates}
    best = max(np.nan_to_num(list(scores.values()), nan=-1.0))
    return min(value for value, f1 in scores.items() if np.nan_to_num(f1, nan=-1.0) == best)


def choose_min_voxels(prediction: np.ndarray, truth: np.ndarray, candidates=MIN_OBJECT_VOXELS) -> int:
    """The smallest-component size of ``candidates`` whose removal gives the best object F1 at IoU 0.5 of a binary
    ``prediction`` against ``truth`` (validation data; the smallest size among ties)."""
    return int(choose_by_object_f1(remove_small, prediction, truth, candidates))


def cleanup_masks(mask: np.ndarray, min_voxels: int, split_depth: float, sampling: tuple | None = None) -> dict:
    """Each step of :data:`CLEANUP_STEPS` applied in turn to a binary ``mask``: ``{step: mask}``."""
    kept = remove_small(mask, min_voxels)
    filled = fill_holes(kept)
    return dict(zip(CLEANUP_STEPS, (np.asarray(mask) > 0, kept, filled, split_touching(filled, split_depth, sampling))))


def steps_at(min_voxels: float, split_depth: float, pixel_from_nm: float, pixel_to_nm: float,
             z_to_nm: float | None = None) -> tuple[int, float, tuple]:
    """The object steps' parameters chosen on data of isotropic ``pixel_from_nm`` voxels, for a stack of
    ``pixel_to_nm`` pixels and ``z_to_nm`` slice spacing (default: isotropic): ``(min_voxels, split_depth,
    sampling)``, the same physical volume and depth (in the stack's pixels) and the EDT's voxel extent."""
    z_to_nm = z_to_nm or pixel_to_nm
    volume_ratio = pixel_from_nm ** 3 / (pixel_to_nm ** 2 * z_to_nm)
    return round(min_voxels * volume_ratio), split_depth * pixel_from_nm / pixel_to_nm, (z_to_nm / pixel_to_nm, 1, 1)


def matched_objects(prediction: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """One row per true object of ``truth``: its label and voxel count, and the predicted object matched to it
    at voxel IoU >= :data:`MATCH_IOU` (its label, voxel count and the IoU; empty where the true object was
    missed): the size of matched objects against their true sizes, which an IoU cannot show."""
    return object_evaluation(prediction, truth)[1]


def _pair_ious(pred_labels, n_pred, true_labels, n_true) -> pd.Series:
    """The voxel IoU of every overlapping ``(predicted, true)`` label pair (a Series indexed by the pair)."""
    overlap = (pred_labels > 0) & (true_labels > 0)
    both = pd.DataFrame({"p": pred_labels[overlap], "t": true_labels[overlap]}).value_counts()
    pred_size = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    true_size = np.bincount(true_labels.ravel(), minlength=n_true + 1)
    p, t = both.index.get_level_values("p"), both.index.get_level_values("t")
    return both / (pred_size[p] + true_size[t] - both.to_numpy())


def _match(prediction: np.ndarray, truth: np.ndarray, iou: float) -> dict:
    pred_labels, n_pred = label_objects(prediction)
    true_labels, n_true = label_objects(truth)
    overlap = (pred_labels > 0) & (true_labels > 0)
    pairs = pd.DataFrame({"p": pred_labels[overlap], "t": true_labels[overlap]}).value_counts().rename("both")
    pred_size = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    true_size = np.bincount(true_labels.ravel(), minlength=n_true + 1)
    matched_true, matched_pred = set(), set()
    for (p, t), both in pairs.items():
        if both / (pred_size[p] + true_size[t] - both) >= iou:
            matched_true.add(int(t))
            matched_pred.add(int(p))
    return {"pred_labels": pred_labels, "true_labels": true_labels, "n_pred": n_pred, "n_true": n_true,
            "pred": matched_pred, "true": matched_true, "pred_size": pred_size, "true_size": true_size}


def object_sizes(prediction: np.ndarray, truth: np.ndarray, iou: float = MATCH_IOU) -> pd.DataFrame:
    """Every 3-D component of a binary ``prediction`` and of ``truth``, one row each: ``kind`` (``predicted`` or
    ``true``), ``label``, ``voxels`` and ``matched`` (whether it has a partner at voxel IoU >= ``iou``). A
    predicted row with ``matched`` false is a false object; a true one, a missed mitochondrion."""
    matching = _match(prediction, truth, iou)
    rows = [{"kind": kind, "label": label, "voxels": int(sizes[label]), "matched": label in matched}
            for kind, sizes, matched, count in (("predicted", matching["pred_size"], matching["pred"], matching["n_pred"]),
                                                ("true", matching["true_size"], matching["true"], matching["n_true"]))
            for label in range(1, count + 1)]
    return pd.DataFrame(rows, columns=["kind", "label", "voxels", "matched"])


def largest_unmatched(prediction: np.ndarray, truth: np.ndarray, iou: float = MATCH_IOU) -> dict:
    """The largest false predicted object and the largest missed true object (3-D components matching nothing at
    voxel IoU >= ``iou``): ``{"false": {...}, "missed": {...}}``, each ``{"voxels", "z", "y", "x"}`` (centroid,
    rounded) or ``None`` when there is none.  The rule the book's failure gallery shows."""
    matching = _match(prediction, truth, iou)
    found = {}
    for kind, labels, sizes, matched, count in (
            ("false", matching["pred_labels"], matching["pred_size"], matching["pred"], matching["n_pred"]),
            ("missed", matching["true_labels"], matching["true_size"], matching["true"], matching["n_true"])):
        candidates = [label for label in range(1, count + 1) if label not in matched]
        if not candidates:
            found[kind] = None
            continue
        label = max(candidates, key=lambda k: (sizes[k], -k))
        z, y, x = (int(round(c)) for c in ndimage.center_of_mass(labels == label))
        found[kind] = {"voxels": int(sizes[label]), "z": z, "y": y, "x": x}
    return found
