"""Parameter counts of the original models, shapes, save/load round trips and setting errors."""

import keras
import numpy as np
import pytest

from mitolib.model.architectures import MODEL_NAMES, build_model

# The original study's models at base 64, depth 4, batch norm on, dropout 0.
ORIGINAL_COUNTS = {
    ("unet", 1): 31_401_349,
    ("unet", 3): 31_402_501,
    ("attention_unet", 1): 37_333_513,
    ("attention_unet", 3): 37_334_665,
    ("attention_resunet", 1): 39_089_097,
    ("attention_resunet", 3): 39_090_377,
}


# The original models' settings (base 64, batch norm everywhere and before the sigmoid, Keras' momentum).
ORIGINAL = {"base_filters": 64, "depth": 4, "batch_norm": True, "dropout": 0.0, "head_batch_norm": True,
            "bn_momentum": 0.99, "fused_batch_norm": True}


def small(name, input_shape, **settings):
    """A small model for shape and wiring tests: the original's settings at base 2, depth 2 unless given."""
    return build_model(name, input_shape, **{**ORIGINAL, "base_filters": 2, "depth": 2, **settings})


@pytest.fixture(autouse=True)
def _clear_session():
    yield
    keras.backend.clear_session()


@pytest.mark.parametrize(("name", "channels"), list(ORIGINAL_COUNTS))
def test_parameter_counts_match_the_original_models(name, channels):
    model = build_model(name, input_shape=(256, 256, channels), **ORIGINAL)
    assert model.count_params() == ORIGINAL_COUNTS[(name, channels)]


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(("shape", "depth"), [((32, 32, 1), 2), ((48, 64, 1), 3), ((64, 32, 3), 4)])
def test_forward_shapes(name, shape, depth):
    model = small(name, shape, depth=depth)
    x = np.random.default_rng(0).random((2, *shape), dtype="float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (2, shape[0], shape[1], 1)
    assert np.all((y >= 0) & (y <= 1))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_layer_carries_the_model_prefix(name):
    model = small(name, (32, 32, 1), depth=2, dropout=0.1)
    assert all(layer.name.startswith(f"{name}_") for layer in model.layers)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_head_batch_norm_and_dropout_switches():
    with_bn = small("unet", (32, 32, 1), depth=2, head_batch_norm=True)
    without = small("unet", (32, 32, 1), depth=2, head_batch_norm=False)
    assert with_bn.count_params() - without.count_params() == 4  # gamma, beta, moving mean, variance
    dropped = small("unet", (32, 32, 1), depth=2, dropout=0.2)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in dropped.layers) == 5  # 2 + 1 + 2 blocks


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_round_trip(tmp_path, name):
    model = small(name, (32, 32, 1), depth=2)
    x = np.random.default_rng(1).random((2, 32, 32, 1), dtype="float32")
    before = model.predict(x, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6, atol=1e-6)


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unet, attention_unet, attention_resunet"):
        build_model("segnet", (32, 32, 1), **ORIGINAL)


def test_input_size_must_divide_by_the_pooling_factor():
    with pytest.raises(ValueError, match=r"height 100 is not divisible by 2\*\*depth = 16"):
        build_model("unet", input_shape=(100, 128, 1), **ORIGINAL)
    with pytest.raises(ValueError, match=r"width 36 is not divisible by 2\*\*depth = 8"):
        build_model("attention_unet", input_shape=(64, 36, 1), **{**ORIGINAL, "depth": 3})


def test_other_impossible_settings():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        build_model("unet", (64, 64, 1), **{**ORIGINAL, "depth": 0})
    with pytest.raises(ValueError, match="input_shape must be"):
        build_model("unet", input_shape=(64, 64), **ORIGINAL)


def test_batch_norm_momentum_is_a_setting():
    model = small("attention_resunet", (32, 32, 1), bn_momentum=0.9)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.9 for layer in norms)
    default = small("unet", (32, 32, 1))  # the original's momentum
    assert {layer.momentum for layer in default.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.99}


def test_model_from_params_builds_the_run_model_for_any_input_shape():
    from mitolib.core.config import resolve_params
    from mitolib.model.fused_bn import FusedBatchNormalization
    from mitolib.training.train import compile_model, model_from_params

    params = resolve_params("smoke", {"architecture": "attention_unet"})
    trained = compile_model(params)
    assert trained.input_shape == (None, params["patch_size"], params["patch_size"], 1)
    whole = model_from_params(params, input_shape=(None, None, 1))  # the evaluation's fully convolutional copy
    assert whole.input_shape == (None, None, None, 1) and whole.count_params() == trained.count_params()
    assert any(isinstance(layer, FusedBatchNormalization) for layer in whole.layers)
    keras_bn = model_from_params({**params, "batch_norm_kernel": "keras"})
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in keras_bn.layers)


def test_the_one_line_build_is_the_corrected_recipe():
    """``mitolib.build_model(name, input_shape)`` takes its settings from studies.yml's defaults."""
    import mitolib
    from mitolib.core.config import load_config

    defaults = load_config()["defaults"]
    quick = mitolib.build_model("unet", (256, 256, 1))
    explicit = build_model("unet", (256, 256, 1), **{key: defaults[key] for key in
                                                     ("base_filters", "depth", "batch_norm", "dropout",
                                                      "head_batch_norm", "bn_momentum")})
    assert quick.count_params() == explicit.count_params()
    assert quick.input_shape == (None, 256, 256, 1) and quick.output_shape == (None, 256, 256, 1)
    keras.backend.clear_session()
