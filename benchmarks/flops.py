"""Floating-point operations of a Keras model's forward pass, counted from its layers' shapes.

Convention: one multiply-accumulate is 2 FLOPs.  Counted layers and their FLOPs per image:

* convolution (``Conv1D/2D/3D``, ``DepthwiseConv2D``): ``2 * prod(kernel.shape) * output positions``
  (for a 2D convolution ``2 * k * k * C_in * C_out * H_out * W_out``);
* transposed convolution: ``2 * prod(kernel.shape) * input positions`` (every input pixel is
  scattered through the whole kernel; with stride 1 and ``same`` padding input and output
  positions are equal);
* ``Dense``: ``2 * prod(kernel.shape) * positions`` it is applied at.

Bias additions, batch normalisation, activations, pooling, upsampling and element-wise adds and
multiplies are not counted (they are a few per cent of a U-Net's work; the TensorFlow profiler
count in :func:`profiler_forward_flops` includes them and serves as a cross-check).  A training
step costs about ``TRAINING_FACTOR`` forward passes: the forward pass, the gradient with respect
to the activations and the gradient with respect to the weights.
"""

from __future__ import annotations

import math

import keras

FLOPS_PER_MAC = 2
TRAINING_FACTOR = 3
PROFILER_BATCH = 1

_TRANSPOSED = tuple(getattr(keras.layers, name) for name in ("Conv1DTranspose", "Conv2DTranspose",
                                                             "Conv3DTranspose") if hasattr(keras.layers, name))
_CONVOLUTIONS = tuple(getattr(keras.layers, name) for name in ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D",
                                                               "Dense") if hasattr(keras.layers, name))


def _positions(shape, layer) -> int:
    """Number of positions a kernel is applied at: the product of the non-batch, non-channel sizes."""
    spatial = tuple(shape)[1:-1]
    if any(size is None for size in spatial):
        raise ValueError(f"layer {layer.name} has a dynamic shape {tuple(shape)}: build the model with a fixed "
                         "input size to count its FLOPs")
    return math.prod(spatial)


def layer_forward_flops(layer) -> int:
    """FLOPs of one image through ``layer`` (0 for layers the convention does not count)."""
    if isinstance(layer, _TRANSPOSED):
        return FLOPS_PER_MAC * math.prod(layer.kernel.shape) * _positions(layer.input.shape, layer)
    if isinstance(layer, _CONVOLUTIONS):
        kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
        return FLOPS_PER_MAC * math.prod(kernel.shape) * _positions(layer.output.shape, layer)
    return 0


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def count_forward_flops(model) -> dict[str, int]:
    """``{layer name: forward FLOPs per image}`` for every counted layer of ``model`` (nested models included)."""
    counts = {}
    for layer in _leaf_layers(model):
        flops = layer_forward_flops(layer)
        if flops:
            counts[layer.name] = flops
    return counts


def forward_flops(model) -> int:
    """Forward FLOPs per image of ``model`` (see the module docstring for what is counted)."""
    return sum(count_forward_flops(model).values())


def training_flops(model) -> int:
    """Training FLOPs per image: ``TRAINING_FACTOR`` x forward."""
    return TRAINING_FACTOR * forward_flops(model)


def profiler_forward_flops(model) -> int | None:
    """Forward FLOPs per image by the TensorFlow profiler on the frozen inference graph, or ``None``.

    Counts every floating-point op the graph runs, bias additions and normalisation included, so it
    is a little above :func:`forward_flops`.  Uses TensorFlow's internal profiler API; ``None`` when
    it is unavailable or fails.
    """
    try:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
        from tensorflow.python.profiler import model_analyzer, option_builder

        spec = tf.TensorSpec((PROFILER_BATCH, *model.input_shape[1:]), tf.float32)
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        frozen = convert_variables_to_constants_v2(concrete)
        options = option_builder.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        return int(model_analyzer.profile(graph=frozen.graph, options=options).total_float_ops) // PROFILER_BATCH
    except Exception:  # noqa: BLE001 - a cross-check only
        return None
