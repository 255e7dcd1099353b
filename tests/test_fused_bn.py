"""The fused batch norm gives Keras' results: outputs, moving statistics, gradients, saving."""

import keras
import numpy as np
import pytest

from mitolib.model.fused_bn import FusedBatchNormalization

SHAPE = (4, 6, 5, 3)  # batch, height, width, channels
MOMENTUM = 0.9


def pair(dtype="float32"):
    """A Keras layer and a fused one with the same (non-trivial) weights, built for ``SHAPE``."""
    keras_bn = keras.layers.BatchNormalization(momentum=MOMENTUM, dtype=dtype)
    fused_bn = FusedBatchNormalization(momentum=MOMENTUM, dtype=dtype)
    for layer in (keras_bn, fused_bn):
        layer.build(SHAPE)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, SHAPE[-1]).astype("float32") for _ in keras_bn.get_weights()]
    keras_bn.set_weights(weights)
    fused_bn.set_weights(weights)
    return keras_bn, fused_bn


def inputs():
    return np.random.default_rng(1).normal(3.0, 2.0, SHAPE).astype("float32")


def test_training_outputs_and_moving_statistics_match_keras():
    keras_bn, fused_bn = pair()
    x = inputs()
    np.testing.assert_allclose(fused_bn(x, training=True), keras_bn(x, training=True), atol=1e-5)
    # Keras' biased variance, not the kernel's unbiased (n - 1) one: n = 4 * 6 * 5 = 120 values per channel
    np.testing.assert_allclose(fused_bn.moving_variance, keras_bn.moving_variance, rtol=1e-5)
    np.testing.assert_allclose(fused_bn.moving_mean, keras_bn.moving_mean, rtol=1e-5)
    # by hand: momentum * initial + (1 - momentum) * batch mean, per channel
    initial_mean = pair()[1].get_weights()[2]
    batch_mean = x.reshape(-1, SHAPE[-1]).mean(axis=0)
    np.testing.assert_allclose(fused_bn.moving_mean, MOMENTUM * initial_mean + (1 - MOMENTUM) * batch_mean, rtol=1e-5)


def test_inference_outputs_match_keras():
    keras_bn, fused_bn = pair()
    x = inputs()
    np.testing.assert_allclose(fused_bn(x, training=False), keras_bn(x, training=False), atol=1e-5)


def test_gradients_match_keras():
    import tensorflow as tf

    keras_bn, fused_bn = pair()
    x = tf.constant(inputs())
    weights = tf.constant(np.random.default_rng(2).normal(size=SHAPE).astype("float32"))
    grads = []
    for layer in (keras_bn, fused_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for fused, reference in zip(grads[1], grads[0]):
        np.testing.assert_allclose(fused, reference, atol=1e-4)


def test_mixed_bfloat16_keeps_the_compute_dtype_and_float32_weights():
    keras_bn, fused_bn = pair("mixed_bfloat16")
    x = inputs()
    out = fused_bn(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(fused_bn.moving_mean.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out, "float32"), np.asarray(keras_bn(x, training=True), "float32"),
                               atol=0.05)


def test_unsupported_inputs_use_keras_code():
    layer = FusedBatchNormalization()
    x = np.random.default_rng(3).normal(size=(8, 3)).astype("float32")  # 2-D: no fused kernel
    reference = keras.layers.BatchNormalization()
    np.testing.assert_allclose(layer(x, training=True), reference(x, training=True), atol=1e-5)


def test_a_model_with_fused_batch_norm_saves_and_loads(tmp_path):
    from mitolib.model.architectures import build_model, load_saved_model

    model = build_model("unet", (32, 32, 1), base_filters=2, depth=2, batch_norm=True, dropout=0.0,
                        head_batch_norm=True, bn_momentum=0.9, fused_batch_norm=True)
    kinds = {type(layer) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert kinds == {FusedBatchNormalization}
    path = tmp_path / "model.keras"
    model.save(path)
    x = np.random.default_rng(4).uniform(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(load_saved_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("architecture", ["unet", "attention_unet", "attention_resunet"])
def test_the_switch_chooses_the_layer_and_keeps_the_parameters(architecture):
    from mitolib.model.architectures import build_model

    counts = {}
    for fused in (True, False):
        model = build_model(architecture, (32, 32, 1), base_filters=2, depth=2, batch_norm=True, dropout=0.0,
                            head_batch_norm=True, bn_momentum=0.9, fused_batch_norm=fused)
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(isinstance(layer, FusedBatchNormalization) == fused for layer in norms)
        counts[fused] = model.count_params()
    assert counts[True] == counts[False]


def test_the_keras_copy_has_keras_layers_and_the_same_predictions():
    from mitolib.model.fused_bn import with_keras_batch_norm
    from mitolib.model.architectures import build_model

    model = build_model("unet", (32, 32, 1), base_filters=2, depth=2, batch_norm=True, dropout=0.0,
                        head_batch_norm=True, bn_momentum=0.9, fused_batch_norm=True)
    model(np.random.default_rng(5).uniform(size=(2, 32, 32, 1)).astype("float32"), training=True)  # move statistics
    copy = with_keras_batch_norm(model)
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in copy.layers)
    assert sum(type(layer) is keras.layers.BatchNormalization for layer in copy.layers) == sum(
        isinstance(layer, FusedBatchNormalization) for layer in model.layers) > 0
    x = np.random.default_rng(6).uniform(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
