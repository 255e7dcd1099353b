"""mitolib.data.pipeline: batches, dtypes, seeded shuffling, augmentation that keeps image and mask aligned.

Every behaviour is checked for both implementations: ``tf.data`` (what ``make_dataset`` returns on the
TensorFlow backend) and ``PatchBatches`` (what it returns on JAX or PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest

from mitolib.data import pipeline
from mitolib.data.pipeline import PatchBatches

P = 8


@pytest.fixture(params=["tf.data", "PatchBatches"])
def make_dataset(request, monkeypatch):
    """``make_dataset`` as it behaves on the TensorFlow backend, and as it behaves on the others."""
    if request.param == "PatchBatches":
        monkeypatch.setattr(pipeline.keras.backend, "backend", lambda: "jax")
    return pipeline.make_dataset


def fixtures(n=10, seed=0):
    """Asymmetric random masks (so every flip/rotation is visible) and images == mask * 255 + index."""
    masks = (np.random.default_rng(seed).random((n, P, P)) > 0.5).astype(np.uint8)
    images = masks * np.uint8(200) + np.arange(n, dtype=np.uint8)[:, None, None]
    return images, masks


def batches(dataset, count=None):
    """The batches of one pass (or the first ``count``) as NumPy arrays, the way ``fit`` reads them."""
    if isinstance(dataset, PatchBatches):
        total = count if count is not None else dataset.num_batches
        out = [dataset[index] for index in range(total)]
        dataset.on_epoch_end()
        return out
    out = []
    for index, (x, y) in enumerate(dataset):
        if count is not None and index == count:
            break
        out.append((x.numpy(), y.numpy()))
    return out


def test_shapes_dtypes_and_scaling(make_dataset):
    images, masks = fixtures(10)
    got = batches(make_dataset(images, masks, 4))
    assert [x.shape for x, _ in got] == [(4, P, P, 1), (4, P, P, 1), (2, P, P, 1)]
    x, y = got[0]
    assert x.dtype == y.dtype == np.float32
    assert np.allclose(x[..., 0], images[:4] / 255.0) and np.array_equal(y[..., 0], masks[:4])


def test_three_identical_channels(make_dataset):
    images, masks = fixtures(3)
    x, y = batches(make_dataset(images, masks, 3, channels=3))[0]
    assert x.shape == (3, P, P, 3) and y.shape == (3, P, P, 1)
    assert np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2])


def order(dataset):
    return [int(round(v * 255)) % 200 for x, _ in batches(dataset) for v in x[:, 0, 0, 0]]


def test_shuffle_is_seeded_and_reshuffles_each_pass(make_dataset):
    images, masks = fixtures(10)
    dataset = make_dataset(images, masks, 5, shuffle=True, seed=1)
    first, second = order(dataset), order(dataset)
    assert sorted(first) == list(range(10)) and first != second and first != list(range(10))
    again = make_dataset(images, masks, 5, shuffle=True, seed=1)
    assert [order(again), order(again)] == [first, second]
    assert order(make_dataset(images, masks, 5, shuffle=True, seed=2)) != first


def test_augmentation_keeps_each_mask_on_its_image(make_dataset):
    images, masks = fixtures(16)
    dataset = make_dataset(images, masks, 4, augment=True, shuffle=True, seed=3, repeat=True)
    changed = 0
    for x, y in batches(dataset, 12):
        pixels = np.rint(x[..., 0] * 255).astype(int)
        index = pixels % 200
        assert np.all(index == index[:, :1, :1])  # one patch per item, the offset is constant
        assert np.array_equal(pixels >= 200, y[..., 0] == 1)  # mask still matches the image
        originals = masks[index[:, 0, 0]]
        changed += sum(not np.array_equal(o, m) for o, m in zip(originals, y[..., 0]))
    assert changed > 30  # most of the 48 patches were flipped or rotated
    first = batches(make_dataset(images, masks, 4, augment=True, seed=3), 2)
    second = batches(make_dataset(images, masks, 4, augment=True, seed=3), 2)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second))


def test_augmentation_uses_the_eight_symmetries(make_dataset):
    mask = np.zeros((1, P, P), np.uint8)
    mask[0, 0, 1] = 1  # a pixel off the diagonal: the 8 symmetries move it to 8 places
    images = np.repeat(mask * np.uint8(255), 64, axis=0)
    dataset = make_dataset(images, np.repeat(mask, 64, axis=0), 64, augment=True, seed=0)
    x, y = batches(dataset)[0]
    places = {tuple(np.argwhere(m[..., 0])[0]) for m in y}
    assert len(places) == 8 and np.array_equal(x[..., 0] == 1.0, y[..., 0] == 1)


def test_repeat_and_bad_inputs(make_dataset):
    images, masks = fixtures(3)
    assert len(batches(make_dataset(images, masks, 2, repeat=True), 5)) == 5
    with pytest.raises(ValueError, match=r"masks must hold \{0, 1\}"):
        make_dataset(images, masks * 255, 2)
    with pytest.raises(ValueError, match="channels must be one of"):
        make_dataset(images, masks, 2, channels=2)
    with pytest.raises(ValueError, match="images must be uint8"):
        make_dataset(images.astype(np.float32), masks, 2)


def test_the_other_backends_get_patch_batches(make_dataset):
    images, masks = fixtures(5)
    dataset = make_dataset(images, masks, 2, repeat=True)
    if isinstance(dataset, PatchBatches):
        assert dataset.num_batches is None  # infinite: fit takes steps_per_epoch batches per epoch
        assert make_dataset(images, masks, 2).num_batches == 3
    else:
        assert type(dataset).__module__.startswith("tensorflow")


def test_symmetries_follow_the_tensorflow_convention():
    """Draw d: d % 4 counter-clockwise quarter turns (``tf.image.rot90``), then a left-right mirror when
    d >= 4 (``tf.image.flip_left_right``), worked out by hand on a 2 x 2 patch [[1, 2], [3, 4]]."""
    patch = np.array([[[1, 2], [3, 4]]], dtype=np.uint8)
    expected = {0: [[1, 2], [3, 4]], 1: [[2, 4], [1, 3]], 2: [[4, 3], [2, 1]], 3: [[3, 1], [4, 2]],
                4: [[2, 1], [4, 3]], 5: [[4, 2], [3, 1]], 6: [[3, 4], [1, 2]], 7: [[1, 3], [2, 4]]}
    for draw, want in expected.items():
        got = pipeline._symmetries(patch, np.array([draw]))[0]
        assert got.tolist() == want, draw


def test_dihedral_is_undone_and_gives_eight_distinct_images():
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    seen = set()
    for draw in range(pipeline.SYMMETRIES):
        turned = pipeline.dihedral(x, draw, axes=(1, 2))
        np.testing.assert_array_equal(pipeline.undo_dihedral(turned, draw, axes=(1, 2)), x)
        seen.add(turned.tobytes())
    assert len(seen) == pipeline.SYMMETRIES
    np.testing.assert_array_equal(pipeline.dihedral(x[0], 5), np.fliplr(np.rot90(x[0], 1)))
