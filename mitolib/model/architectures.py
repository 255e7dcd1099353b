"""The three U-Nets of the study behind one builder.

``build_model(name, ...)`` returns an uncompiled ``keras.Model`` mapping images
``(B, H, W, C)`` float32 in [0, 1] to foreground probabilities ``(B, H, W, 1)``.
The architectures differ only in the block used (plain or residual) and in
whether skips pass through an attention gate; everything else is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from mitolib.core import numerics, schema
from mitolib.core.config import load_config
from mitolib.model import blocks


@dataclass(frozen=True)
class Architecture:
    """What distinguishes one U-Net variant from another."""

    block: str  # "conv" or "residual"
    attention: bool


ARCHITECTURES: dict[str, Architecture] = {
    "unet": Architecture(block="conv", attention=False),
    "attention_unet": Architecture(block="conv", attention=True),
    "attention_resunet": Architecture(block="residual", attention=True),
}
MODEL_NAMES = tuple(ARCHITECTURES)
assert MODEL_NAMES == schema.ARCHITECTURES, "the registry and mitolib.core.schema must name the same architectures"

_BLOCKS = {"conv": blocks.conv_block, "residual": blocks.residual_block}


def check_model_settings(name: str, input_shape, depth: int, base_filters: int) -> None:
    """Raise ``ValueError`` with the fix for settings no model can be built with."""
    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown model name {name!r}; choose one of: {', '.join(MODEL_NAMES)}"
        )
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if base_filters < 1:
        raise ValueError(f"base_filters must be at least 1, got {base_filters}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}")
    factor = 2**depth
    for axis, size in zip(("height", "width"), input_shape[:2]):
        if size is not None and size % factor:
            raise ValueError(
                f"input {axis} {size} is not divisible by 2**depth = {factor} (depth={depth}); "
                f"use a patch size that is a multiple of {factor} or a smaller depth"
            )


MODEL_SETTINGS = ("base_filters", "depth", "batch_norm", "dropout", "head_batch_norm", "bn_momentum")


def build_model(
    name: str,
    input_shape=(256, 256, 1),
    *,
    base_filters: int | None = None,
    depth: int | None = None,
    batch_norm: bool | None = None,
    dropout: float | None = None,
    head_batch_norm: bool | None = None,
    bn_momentum: float | None = None,
    fused_batch_norm: bool | None = None,
) -> keras.Model:
    """Build ``unet``, ``attention_unet`` or ``attention_resunet``; ``build_model("unet", (256, 256, 1))``
    gives the corrected recipe's U-Net.

    A setting left out (``None``) takes its value from the ``defaults`` of ``studies.yml`` (the corrected
    recipe: 16 filters, depth 4, batch norm with momentum 0.9, no dropout, no batch norm before the
    sigmoid); ``fused_batch_norm`` left out follows the backend (:func:`mitolib.core.numerics.batch_norm_kernel`).

    The encoder has ``depth`` levels of widths ``base_filters * 2**i`` each
    followed by 2x2 max pooling, then a bottleneck of ``base_filters * 2**depth``.
    The decoder upsamples (nearest neighbour), concatenates the (optionally
    attention-gated) skip and applies a block of the skip's width.  The head is
    a 1x1 convolution to one channel, an optional batch norm (the original's
    choice) and a sigmoid.  Height and width must be divisible by ``2**depth``.
    ``bn_momentum`` is the batch-norm moving-average momentum: Keras' 0.99 (the
    original's) needs thousands of steps before inference-mode statistics are
    right; short CPU trainings use 0.9.  ``fused_batch_norm`` computes every batch norm with TensorFlow's
    fused kernel (:mod:`mitolib.model.fused_bn`; the same weights and results), else with Keras 3's composite ops.
    """
    given = {"base_filters": base_filters, "depth": depth, "batch_norm": batch_norm, "dropout": dropout,
             "head_batch_norm": head_batch_norm, "bn_momentum": bn_momentum}
    if any(value is None for value in given.values()):
        defaults = load_config()["defaults"]
        given = {key: defaults[key] if value is None else value for key, value in given.items()}
    base_filters, depth, batch_norm, dropout, head_batch_norm, bn_momentum = (given[key] for key in MODEL_SETTINGS)
    if fused_batch_norm is None:
        fused_batch_norm = numerics.batch_norm_kernel() == numerics.FUSED
    check_model_settings(name, input_shape, depth, base_filters)
    arch = ARCHITECTURES[name]
    block = _BLOCKS[arch.block]
    bn = {"batch_norm": batch_norm, "momentum": bn_momentum, "fused": fused_batch_norm}
    opts = {**bn, "dropout": dropout}

    inputs = keras.Input(shape=tuple(input_shape), name=f"{name}_input")
    x = inputs
    skips = []
    for level in range(depth):
        x = block(x, base_filters * 2**level, f"{name}_enc{level}", **opts)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_enc{level}_pool")(x)
    x = block(x, base_filters * 2**depth, f"{name}_bottleneck", **opts)

    for level in reversed(range(depth)):
        skip = skips[level]
        width = base_filters * 2**level
        prefix = f"{name}_dec{level}"
        if arch.attention:
            gate = blocks.gating_signal(x, width, f"{prefix}_gate", **bn)
            skip = blocks.attention_gate(skip, gate, f"{prefix}_att", **bn)
        x = layers.UpSampling2D(2, name=f"{prefix}_up")(x)
        x = layers.Concatenate(axis=-1, name=f"{prefix}_concat")([x, skip])
        x = block(x, width, prefix, **opts)

    x = layers.Conv2D(1, 1, name=f"{name}_head_conv")(x)
    if head_batch_norm:
        x = blocks.batch_norm_layer(f"{name}_head_bn", bn_momentum, fused_batch_norm)(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name=f"{name}_head_sigmoid")(x)
    return keras.Model(inputs, outputs, name=name)


def load_saved_model(path) -> keras.Model:
    """The Keras model saved at ``path`` (a ``.keras`` file; the custom layers are registered), uncompiled.

    A missing, truncated or foreign file raises ``ValueError`` naming it and what to do."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no model file here; train the run first (`mitolib train`) or give its .keras file")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ValueError(f"{path}: the model file cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); it is "
                         "truncated or not a Keras 3 model, copy or train it again") from exc
