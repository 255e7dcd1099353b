"""Batch normalisation through TensorFlow's fused kernel.

Keras 3's ``BatchNormalization`` computes the batch moments and the normalisation as separate
element-wise ops, in float32 even under a mixed policy (cast up, moments, normalise, cast back), and
the same again in the backward pass.  tf.keras 2 (what the original study ran on) called TensorFlow's
``FusedBatchNormV3`` for 4-D inputs normalised over their last axis: one kernel forward, one
backward, in the compute dtype with float32 statistics.  At the narrow ``cpu`` width under ``mixed_bfloat16``,
training with the fused kernel is 1.35x–1.54x as fast as with those element-wise passes
(``benchmarks/README.md``); the Keras issue is keras-team/keras-core#225, "BatchNorm is slow".

:class:`FusedBatchNormalization` is Keras' layer with the same weights, configuration and
results (the moving variance keeps Keras' biased estimate), whose ``call`` uses the fused kernel where
TensorFlow has one (the TensorFlow backend, 4-D input, channels last, no mask, float16, bfloat16 or
float32) and Keras' own code everywhere else.
"""

from __future__ import annotations

import keras
from keras import layers

FUSED_DTYPES = ("float16", "bfloat16", "float32")  # input dtypes FusedBatchNormV3 accepts
FUSED_RANK = 4                                     # (batch, height, width, channels)
STATISTICS_DTYPE = "float32"                       # scale, offset, mean and variance of the fused kernel


@keras.saving.register_keras_serializable(package="mitolib")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by ``tf.raw_ops.FusedBatchNormV3`` where it applies."""

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and len(inputs.shape) == FUSED_RANK
                and self.axis in (-1, FUSED_RANK - 1) and keras.backend.standardize_dtype(inputs.dtype) in FUSED_DTYPES
                and not self.renorm)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = tf.cast(self.gamma, STATISTICS_DTYPE) if self.scale else tf.ones((channels,), STATISTICS_DTYPE)
        offset = tf.cast(self.beta, STATISTICS_DTYPE) if self.center else tf.zeros((channels,), STATISTICS_DTYPE)
        if training and self.trainable:
            empty = tf.constant([], STATISTICS_DTYPE)
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=self.epsilon,
                exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
            # The kernel returns the unbiased (n - 1) batch variance; Keras' moving variance uses the biased one.
            count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), STATISTICS_DTYPE)
            variance = variance * (count - 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=tf.cast(self.moving_mean, STATISTICS_DTYPE),
                variance=tf.cast(self.moving_variance, STATISTICS_DTYPE), epsilon=self.epsilon,
                exponential_avg_factor=1.0, data_format="NHWC", is_training=False)
        return tf.cast(outputs, self.compute_dtype)


def with_keras_batch_norm(model: keras.Model, dtype: str | None = None) -> keras.Model:
    """A copy of ``model`` whose fused batch norms are Keras' own ``BatchNormalization`` (same configuration and
    weights, hence the same predictions): a saved copy that loads where mitolib's layer is not registered.
    With ``dtype`` (``"float32"``), every layer computes in that type: a model trained in bfloat16 mixed
    precision becomes a float32 model with the same weights, as other tools (the zoo's, ONNX) expect."""

    def clone(layer):
        kind = layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        config = layer.get_config()
        if dtype is not None and "dtype" in config:
            config["dtype"] = dtype
        return kind.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
