"""mitolib.data.volumes: the three layouts, pairing by name, and every DataError on bad input (generated fixtures)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import tifffile
from PIL import Image

from mitolib import cli
from mitolib.data import volumes as data, epfl
from mitolib.core import locations
from mitolib.data.volumes import check_data, data_identity, load_volume, resolve_volumes
from mitolib.core.errors import DataError
from mitolib.data.synthetic import write_slice_folders
from mitolib.core.config import resolve_params

H, W = 4, 6


def pattern(k: int) -> np.ndarray:
    """A distinct {0, 1} mask for slice k."""
    mask = np.zeros((H, W), np.uint8)
    mask.flat[k % (H * W)] = 1
    mask[k % H, :] = 1
    return mask


def write(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.suffix == ".png":
        Image.fromarray(array).save(path)
    else:
        tifffile.imwrite(path, array)
    return path


def slice_folder(root, names, split="train", mask_names=None, scale=255):
    """Per-slice layout where image k == pattern(k) * 200 + k, mask k == pattern(k) * scale."""
    for k, (image_name, mask_name) in enumerate(zip(names, mask_names or names)):
        write(root / split / "images", image_name, (pattern(k) * 200 + k).astype(np.uint8))
        write(root / split / "masks", mask_name, (pattern(k) * scale).astype(np.uint8))
    return root


def test_slice_folders_read_in_name_order_with_masks_in_0_1(tmp_path):
    names = ["s_2.png", "s_10.png", "s_1.png"]  # written in this order; read as 1, 2, 10
    slice_folder(tmp_path, names)
    images, masks = load_volume(tmp_path, "train")
    assert images.shape == masks.shape == (3, H, W) and images.dtype == masks.dtype == np.uint8
    assert images[:, 0, 0].tolist() == [np.uint8(pattern(k)[0, 0] * 200 + k) for k in (2, 0, 1)]
    for image, mask in zip(images, masks):  # every mask is its own image's mask
        assert np.array_equal(mask, (image >= 200).astype(np.uint8))
    assert set(np.unique(masks)) == {0, 1}


def test_mask_pairs_by_stem_across_png_and_tiff(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"], mask_names=["a.tif", "b.tiff"], scale=1)
    images, masks = load_volume(tmp_path, "train")
    assert np.array_equal(masks, (images >= 200).astype(np.uint8))


def test_patch_folders_pair_by_number_without_split_folder(tmp_path):
    for n in (10, 2, 1):
        write(tmp_path / "images", f"image_{n}.tif", (pattern(n) * 255).astype(np.uint8))
    for n in (1, 10, 2):
        write(tmp_path / "masks", f"mask_{n}.tif", pattern(n))
    for split in ("train", "test"):  # no split folder: both splits read root
        images, masks = load_volume(tmp_path, split)
        assert np.array_equal(images, masks * 255)
        assert np.array_equal(masks[2], pattern(10))  # numeric order 1, 2, 10


def test_patch_folders_in_split_folder(tmp_path):
    write(tmp_path / "train" / "images", "image_3.tif", np.full((H, W), 7, np.uint8))
    write(tmp_path / "train" / "masks", "mask_03.tif", pattern(1))
    images, masks = load_volume(tmp_path, "train")
    assert images.shape == (1, H, W) and np.array_equal(masks[0], pattern(1))
    with pytest.raises(DataError, match="no test data"):
        load_volume(tmp_path, "test")


def epfl_stacks(root, split="train", pages=epfl.EPFL_SLICES, mask_scale=255):
    images = np.arange(pages * H * W, dtype=np.uint64).reshape(pages, H, W).astype(np.uint8)
    masks = np.stack([pattern(k) for k in range(pages)]) * mask_scale
    image_name, mask_name = epfl.EPFL_FILES[split]
    tifffile.imwrite(root / image_name, images)
    tifffile.imwrite(root / mask_name, masks.astype(np.uint8))
    return images, masks


def test_epfl_tiff_stacks(tmp_path):
    images, masks = epfl_stacks(tmp_path, "test")
    got_images, got_masks = load_volume(tmp_path, "test")
    assert got_images.shape == (165, H, W)
    assert np.array_equal(got_images, images) and np.array_equal(got_masks, masks // 255)


def test_epfl_stack_with_wrong_page_count(tmp_path):
    epfl_stacks(tmp_path, pages=164)
    with pytest.raises(DataError, match=r"training\.tif: 164 pages, expected 165"):
        load_volume(tmp_path, "train")


def test_epfl_mask_stack_missing(tmp_path):
    epfl_stacks(tmp_path)
    (tmp_path / "training_groundtruth.tif").unlink()
    with pytest.raises(DataError, match=r"training_groundtruth\.tif: file not found"):
        load_volume(tmp_path, "train")


def remove_masks(root):
    slice_folder(root, ["a.png"])
    (root / "train" / "masks" / "a.png").unlink()
    (root / "train" / "masks").rmdir()


@pytest.mark.parametrize("make, message", [
    (lambda root: None, r"nope: data folder not found"),
    (lambda root: root.mkdir(), r"no train data: expected training\.tif"),
    (lambda root: (root / "train" / "images").mkdir(parents=True), r"images: no PNG or TIFF files"),
    (remove_masks, r"masks: folder not found"),
])
def test_missing_or_empty_folders(tmp_path, make, message):
    root = tmp_path / "nope"
    make(root)
    with pytest.raises(DataError, match=message):
        load_volume(root, "train")


def test_different_counts(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "train" / "masks" / "c.png").unlink()
    with pytest.raises(DataError, match=r"3 images but 2 masks \(unpaired: c\.png\)"):
        load_volume(tmp_path, "train")


def test_image_without_partner(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"], mask_names=["a.png", "x.png"])
    with pytest.raises(DataError, match=r"images/b\.png: no mask with the same name"):
        load_volume(tmp_path, "train")


def test_patch_image_without_partner(tmp_path):
    write(tmp_path / "images", "image_1.tif", np.zeros((H, W), np.uint8))
    write(tmp_path / "masks", "mask_2.tif", np.zeros((H, W), np.uint8))
    with pytest.raises(DataError, match=r"image_1\.tif: no mask"):
        load_volume(tmp_path, "train")


def test_duplicate_pairing_names(tmp_path):
    slice_folder(tmp_path, ["a.png"])
    write(tmp_path / "train" / "images", "a.tif", np.zeros((H, W), np.uint8))
    with pytest.raises(DataError, match=r"same pairing name as a\.png"):
        load_volume(tmp_path, "train")


def test_image_and_mask_of_different_shapes(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"])
    write(tmp_path / "train" / "masks", "b.png", np.zeros((H, W + 1), np.uint8))
    with pytest.raises(DataError, match=r"masks/b\.png: shape \(4, 7\) differs from its partner b\.png \(4, 6\)"):
        load_volume(tmp_path, "train")


def test_slices_of_different_shapes(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"])
    write(tmp_path / "train" / "images", "b.png", np.zeros((H + 1, W), np.uint8))
    write(tmp_path / "train" / "masks", "b.png", np.zeros((H + 1, W), np.uint8))
    with pytest.raises(DataError, match=r"images/b\.png: shape \(5, 6\) differs from slice of this volume a\.png"):
        load_volume(tmp_path, "train")


def test_non_binary_mask_and_threshold(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"], scale=1)
    write(tmp_path / "train" / "masks", "b.png", np.array([[0, 1, 2, 3, 4, 200]] * H, np.uint8))
    with pytest.raises(DataError, match=r"masks/b\.png: mask values \{0, 1, 2, 3, 4, 200\} are not binary"):
        load_volume(tmp_path, "train")
    _, masks = load_volume(tmp_path, "train", threshold=3)
    assert masks[1, 0].tolist() == [0, 0, 0, 0, 1, 1]


def test_masks_mixing_0_1_and_0_255(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"], scale=1)
    write(tmp_path / "train" / "masks", "b.png", pattern(1) * 255)
    with pytest.raises(DataError, match=r"b\.png: mask values \{0, 255\} \(mixed with earlier masks' values\)"):
        load_volume(tmp_path, "train")


def test_sixteen_bit_images_and_convert(tmp_path):
    slice_folder(tmp_path, ["a.tif", "b.tif"], mask_names=["a.png", "b.png"])
    write(tmp_path / "train" / "images", "b.tif", np.full((H, W), 4000, np.uint16))
    write(tmp_path / "train" / "images", "a.tif", np.full((H, W), 1000, np.uint16))
    with pytest.raises(DataError, match=r"images/a\.tif: images are uint16, expected uint8; rescale .* -p convert_images true"):
        load_volume(tmp_path, "train")
    with pytest.warns(UserWarning, match=r"converted uint16 images to uint8: rescaled linearly from \[1000, 4000\]"):
        images, _ = load_volume(tmp_path, "train", convert=True)
    assert images.dtype == np.uint8 and images[:, 0, 0].tolist() == [0, 255]


def test_float_images_in_unit_range_convert_by_255(tmp_path):
    slice_folder(tmp_path, ["a.tif"], mask_names=["a.png"])
    write(tmp_path / "train" / "images", "a.tif", np.full((H, W), 0.5, np.float32))
    with pytest.raises(DataError, match="images are float32"):
        load_volume(tmp_path, "train")
    with pytest.warns(UserWarning, match=r"multiplied by 255"):
        images, _ = load_volume(tmp_path, "train", convert=True)
    assert np.all(images == 128)


def test_truncated_file(tmp_path):
    slice_folder(tmp_path, ["a.png", "b.png"])
    path = tmp_path / "train" / "images" / "b.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"images/b\.png: unreadable .*truncated or not an image"):
        load_volume(tmp_path, "train")


def test_colour_image_is_rejected(tmp_path):
    slice_folder(tmp_path, ["a.png"])
    write(tmp_path / "train" / "images", "a.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataError, match=r"a\.png: shape \(4, 6, 3\) is not one grayscale slice"):
        load_volume(tmp_path, "train")


def test_bad_split(tmp_path):
    with pytest.raises(DataError, match="split must be one of train, test"):
        load_volume(tmp_path, "val")


def test_data_identity_follows_the_content_of_both_splits(tmp_path):
    from mitolib.data.volumes import _cached_volume, _identity_cached

    other = tmp_path / "other"
    for root in (tmp_path, other):
        slice_folder(root, ["a.png", "b.png"])
        slice_folder(root, ["a.png", "b.png"], split="test")
    params = {"data_source": "epfl", "data_root": str(tmp_path), "evaluate_test": True}
    first = data_identity(params)
    assert len(first) == 16 and first == data_identity({**params, "data_root": str(other)})  # same content
    write(other / "test" / "masks", "b.png", np.zeros((H, W), np.uint8))  # other labels of the test split
    _cached_volume.cache_clear()
    _identity_cached.cache_clear()
    assert data_identity({**params, "data_root": str(other)}) != first
    assert data_identity({**params, "evaluate_test": False}) == data_identity(
        {**params, "data_root": str(other), "evaluate_test": False})  # the training split is the same


def test_resolve_volumes_synthetic_is_fixed_and_read_only():
    params = {"data_source": "synthetic", "synthetic_slices": 3, "synthetic_height": 32, "synthetic_width": 40, "seed": 0}
    train = resolve_volumes(params, "train")
    again = resolve_volumes({**params, "seed": 7}, "train")  # the training seed does not change the data
    test = resolve_volumes(params, "test")
    assert train[0].shape == train[1].shape == (3, 32, 40)
    assert np.array_equal(train[0], again[0]) and not np.array_equal(train[0], test[0])
    with pytest.raises(ValueError, match="read-only"):
        train[0][0, 0, 0] = 1


def test_resolve_volumes_reads_data_root_and_env(tmp_path, monkeypatch):
    write_slice_folders(tmp_path / "d", 2, 16, 16, seed=1)
    images, masks = resolve_volumes({"data_source": "epfl", "data_root": str(tmp_path / "d")}, "test")
    assert images.shape == (2, 16, 16) and set(np.unique(masks)) <= {0, 1}
    monkeypatch.setenv(locations.DATA_ENV, str(tmp_path / "d"))
    assert data.resolve_root({"data_root": ""}) == tmp_path / "d"
    with pytest.raises(DataError, match="data_source 'lucchi' is unknown"):
        resolve_volumes({"data_source": "lucchi"}, "train")


def test_check_data_report_and_cli(tmp_path, capsys):
    write_slice_folders(tmp_path, 2, 24, 32, seed=3)
    report = check_data(tmp_path)
    assert report.ok and report.splits["train"]["slices"] == 2 and report.splits["test"]["mask values"] == [0, 255]
    assert report.splits["train"]["pairing"] == "2 pairs by same file stem"
    parser = argparse.ArgumentParser()
    cli.add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "check", str(tmp_path)])
    assert args.func(args) == 0 and "verdict: OK" in capsys.readouterr().out
    (tmp_path / "test" / "masks" / "test_001.png").unlink()
    report = check_data(tmp_path)
    assert not report.ok and report.problems[0].startswith("test: ") and "train" in report.splits
    assert args.func(args) == 1 and "verdict: NOT OK: 1 problem(s)" in capsys.readouterr().out


@pytest.mark.parametrize("mask_value, message", [
    (0, "0.00 % foreground: no mitochondria at all: empty masks"),
    (255, "100.00 % foreground: most pixels are foreground: inverted masks"),
])
def test_check_flags_empty_and_inverted_masks(tmp_path, mask_value, message):
    for split in ("train", "test"):
        write(tmp_path / split / "images", "a.png", np.full((H, W), 100, np.uint8))
        write(tmp_path / split / "masks", "a.png", np.full((H, W), mask_value, np.uint8))
    report = check_data(tmp_path)
    assert not report.ok and any(message in problem for problem in report.problems)
    assert "check the masks" in str(report)


def test_grey_masks_and_sixteen_bit_images_train_with_the_options_the_advice_names(tmp_path):
    grey = (pattern(0) * 200).astype(np.uint8)  # values {0, 200}: not binary
    for split in ("train", "test"):
        write(tmp_path / split / "images", "a.png", np.full((H, W), 100, np.uint8))
        write(tmp_path / split / "masks", "a.png", grey)
    params = {"data_source": "epfl", "data_root": str(tmp_path)}
    with pytest.raises(DataError, match="-p mask_threshold T"):
        resolve_volumes(params, "train")
    _, masks = resolve_volumes({**params, "mask_threshold": 127}, "train")
    assert set(np.unique(masks)) <= {0, 1} and masks.sum() == (grey > 127).sum()


def test_training_refuses_inverted_masks_as_data_check_says(tmp_path):
    """`data check` says "training would stop": it does, with the same words, unless told otherwise."""
    from mitolib.training.train import train

    write_slice_folders(tmp_path / "d", 4, 64, 96, seed=2)
    for split in ("train", "test"):
        for path in sorted((tmp_path / "d" / split / "masks").glob("*.png")):
            mask = np.asarray(Image.open(path))
            Image.fromarray((255 - mask).astype(np.uint8)).save(path)  # 0 for mitochondria
    report = check_data(tmp_path / "d")
    assert not report.ok and "inverted masks" in report.problems[0]
    params = resolve_params("smoke", {"data_source": "epfl", "data_root": str(tmp_path / "d"),
                                      "out_dir": str(tmp_path / "run"), "epochs": 1})
    with pytest.raises(DataError, match="inverted masks.*training stops here.*allow_implausible_masks"):
        train(params, progress=False)
    assert (tmp_path / "run" / "metrics.json").is_file()  # the refusal is recorded as a failed run
