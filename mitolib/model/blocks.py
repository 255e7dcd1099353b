"""Shared building blocks of the three U-Nets.

Every function takes a Keras tensor and a ``prefix`` and returns a Keras
tensor; every layer it creates is named ``f"{prefix}_..."`` so that a model's
layers carry the model name.  The blocks reproduce the layers of the original
study's models exactly (see the parameter counts in ``tests/test_models.py``).
"""

from __future__ import annotations

import keras
from keras import layers

from mitolib.model.fused_bn import FusedBatchNormalization

KERNEL = 3  # 3x3 'same' convolutions throughout
BN_MOMENTUM = 0.99  # Keras' default, the original models' setting


def batch_norm_layer(name: str, momentum: float = BN_MOMENTUM, fused: bool = True) -> layers.BatchNormalization:
    """Batch normalisation over channels with the given moving-average momentum: computed by TensorFlow's fused
    kernel when ``fused`` (:class:`mitolib.model.fused_bn.FusedBatchNormalization`), else by Keras 3's composite ops."""
    kind = FusedBatchNormalization if fused else layers.BatchNormalization
    return kind(axis=-1, momentum=momentum, name=name)


def _norm_act(x, prefix: str, batch_norm: bool, activation: bool = True, momentum: float = BN_MOMENTUM,
              fused: bool = True):
    if batch_norm:
        x = batch_norm_layer(f"{prefix}_bn", momentum, fused)(x)
    if activation:
        x = layers.Activation("relu", name=f"{prefix}_relu")(x)
    return x


def conv_block(x, filters: int, prefix: str, *, batch_norm: bool = True, dropout: float = 0.0,
               momentum: float = BN_MOMENTUM, fused: bool = True):
    """(3x3 conv, BN, ReLU) twice, then optional dropout. Spatial size is kept."""
    for i in (1, 2):
        x = layers.Conv2D(filters, KERNEL, padding="same", name=f"{prefix}_conv{i}")(x)
        x = _norm_act(x, f"{prefix}_conv{i}", batch_norm, momentum=momentum, fused=fused)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return x


def residual_block(x, filters: int, prefix: str, *, batch_norm: bool = True, dropout: float = 0.0,
                   momentum: float = BN_MOMENTUM, fused: bool = True):
    """Main path conv-BN-ReLU-conv-BN plus a 1x1 conv-BN shortcut, added, then ReLU."""
    shortcut = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}_shortcut")(x)
    shortcut = _norm_act(shortcut, f"{prefix}_shortcut", batch_norm, activation=False, momentum=momentum,
                         fused=fused)
    y = layers.Conv2D(filters, KERNEL, padding="same", name=f"{prefix}_conv1")(x)
    y = _norm_act(y, f"{prefix}_conv1", batch_norm, momentum=momentum, fused=fused)
    y = layers.Conv2D(filters, KERNEL, padding="same", name=f"{prefix}_conv2")(y)
    y = _norm_act(y, f"{prefix}_conv2", batch_norm, activation=False, momentum=momentum, fused=fused)
    if dropout > 0:
        y = layers.Dropout(dropout, name=f"{prefix}_dropout")(y)
    y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{prefix}_relu")(y)


def gating_signal(x, filters: int, prefix: str, *, batch_norm: bool = True, momentum: float = BN_MOMENTUM,
                  fused: bool = True):
    """1x1 conv to ``filters`` channels, BN, ReLU: the gate for an attention gate."""
    x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}_conv")(x)
    return _norm_act(x, prefix, batch_norm, momentum=momentum, fused=fused)


@keras.saving.register_keras_serializable(package="mitolib")
class ChannelBroadcastMultiply(layers.Layer):
    """Multiply a one-channel attention map ``(B, H, W, 1)`` into a feature map ``(B, H, W, C)``.

    Replaces the original ``Lambda(repeat_elements)`` so that models save and load
    as ``.keras`` files without unsafe deserialisation.
    """

    def call(self, inputs):
        attention, features = inputs
        return attention * features

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


def attention_gate(x, gate, prefix: str, *, batch_norm: bool = True, momentum: float = BN_MOMENTUM,
                   fused: bool = True):
    """Additive attention gate of the original models.

    ``x`` is the skip tensor ``(B, H, W, C)``, ``gate`` the coarser decoder tensor
    ``(B, H/2, W/2, C')`` after :func:`gating_signal`.  Returns the gated skip,
    ``(B, H, W, C)``.
    """
    channels = x.shape[-1]
    theta_x = layers.Conv2D(channels, 2, strides=2, padding="same", name=f"{prefix}_theta_x")(x)
    phi_g = layers.Conv2D(channels, 1, padding="same", name=f"{prefix}_phi_g")(gate)
    phi_g = layers.Conv2DTranspose(channels, KERNEL, strides=1, padding="same", name=f"{prefix}_phi_g_up")(phi_g)
    xg = layers.Add(name=f"{prefix}_add")([phi_g, theta_x])
    xg = layers.Activation("relu", name=f"{prefix}_relu")(xg)
    psi = layers.Conv2D(1, 1, padding="same", name=f"{prefix}_psi")(xg)
    psi = layers.Activation("sigmoid", name=f"{prefix}_sigmoid")(psi)
    psi = layers.UpSampling2D(2, name=f"{prefix}_psi_up")(psi)
    y = ChannelBroadcastMultiply(name=f"{prefix}_multiply")([psi, x])
    y = layers.Conv2D(channels, 1, padding="same", name=f"{prefix}_out")(y)
    if batch_norm:
        y = batch_norm_layer(f"{prefix}_out_bn", momentum, fused)(y)
    return y
