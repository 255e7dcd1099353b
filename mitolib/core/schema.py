"""The parameter schema: every flat parameter's allowed values, checked once when parameters are resolved.

Types come from the ``defaults`` of ``studies.yml`` (``config.cast_value``); this module holds the rest:
choices and ranges, one rule per parameter, and the few rules between parameters.  It is the one home of
the choice lists (architectures, losses, splits, monitors, schedules, ...): the modules that act on a
parameter import its choices from here.  ``validate`` raises :class:`~mitolib.core.errors.ConfigError`
naming the parameter, the value and what is allowed, before any data is read or any job submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from mitolib.core.errors import ConfigError

ARCHITECTURES = ("unet", "attention_unet", "attention_resunet")
LOSSES = ("focal", "bce", "dice_bce")
SPLITS = ("official", "random_patches")
MONITORS = ("iou", "thresholded_jaccard", "soft_jaccard", "original_jaccard")
SELECTION_MONITORS = MONITORS[:3]  # the checkpoint rules select_by_all_monitors scores side by side
REDUCE_LR_MONITORS = ("monitor", "loss")  # the plateau watches the validation monitor, or the validation loss
LR_SCHEDULES = ("plateau", "cosine", "constant")
SAMPLE_ORDERS = ("shuffled", "fixed")
DATA_SOURCES = ("epfl", "synthetic")
CHANNELS = (1, 3)
PRECISIONS = ("", "auto", "float32", "mixed_bfloat16", "mixed_float16")
SWITCHES = ("auto", "true", "false")


@dataclass(frozen=True)
class Rule:
    """Allowed values: ``choices``, or a range ``[low, high]`` with open ends where ``low_open``/``high_open``."""

    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    odd: bool = False

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` is allowed, else what is allowed, in words."""
        if self.choices is not None:
            text = str(value).lower() if self.choices == SWITCHES else value
            return None if text in self.choices else "one of " + ", ".join(repr(c) for c in self.choices)
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        if low_ok and high_ok and (not self.odd or value % 2 == 1):
            return None
        left = "" if self.low is None else ("(" if self.low_open else "[") + f"{self.low:g}"
        right = "" if self.high is None else f"{self.high:g}" + (")" if self.high_open else "]")
        span = (f"in {left}, {right}" if self.low is not None and self.high is not None else
                f"{'>' if self.low_open else '>='} {self.low:g}" if self.low is not None else
                f"{'<' if self.high_open else '<='} {self.high:g}")
        return span + (" and odd" if self.odd else "")


POSITIVE = Rule(low=0, low_open=True)
AT_LEAST_ONE = Rule(low=1)
NON_NEGATIVE = Rule(low=0)
FRACTION_OPEN = Rule(low=0, high=1, low_open=True, high_open=True)

RULES: dict[str, Rule] = {
    "data_source": Rule(choices=DATA_SOURCES),
    "synthetic_slices": Rule(low=2), "synthetic_height": Rule(low=16), "synthetic_width": Rule(low=16),
    "scale": Rule(low=0, high=1, low_open=True),
    "patch_size": Rule(low=8), "patch_stride": NON_NEGATIVE,
    "channels": Rule(choices=CHANNELS),
    "split": Rule(choices=SPLITS), "val_fraction": FRACTION_OPEN,
    "sample_order": Rule(choices=SAMPLE_ORDERS),
    "architecture": Rule(choices=ARCHITECTURES),
    "base_filters": AT_LEAST_ONE, "depth": Rule(low=1, high=6),
    "bn_momentum": Rule(low=0, high=1, high_open=True), "dropout": Rule(low=0, high=1, high_open=True),
    "loss": Rule(choices=LOSSES), "gamma": NON_NEGATIVE,
    "learning_rate": POSITIVE, "batch_size": AT_LEAST_ONE, "epochs": AT_LEAST_ONE,
    "samples_per_epoch": NON_NEGATIVE, "monitor": Rule(choices=MONITORS),
    "early_stopping_patience": NON_NEGATIVE, "lr_schedule": Rule(choices=LR_SCHEDULES),
    "reduce_lr_patience": NON_NEGATIVE, "reduce_lr_monitor": Rule(choices=REDUCE_LR_MONITORS),
    "train_slices": NON_NEGATIVE, "reduce_lr_factor": FRACTION_OPEN, "min_learning_rate": NON_NEGATIVE,
    "warmup_epochs": NON_NEGATIVE, "ema_momentum": Rule(low=0, high=1, high_open=True),
    "mixed_precision": Rule(choices=PRECISIONS), "jit_compile": Rule(choices=SWITCHES),
    "seed": NON_NEGATIVE, "mask_threshold": Rule(low=0, high=255, high_open=True),
    "context_slices": Rule(low=0, high=3),
    "eval_window": NON_NEGATIVE, "eval_overlap": Rule(low=0, high=1, high_open=True),
    "eval_batch_size": AT_LEAST_ONE, "threshold": FRACTION_OPEN, "z_median": Rule(low=1, odd=True),
}


def validate(params: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` for the first parameter of ``params`` outside its rule, or a rule between them."""

    for key, rule in RULES.items():
        if key in params:
            allowed = rule.check(params[key])
            if allowed:
                raise ConfigError(f"parameter {key!r} = {params[key]!r} is not allowed: it must be {allowed}")
    if params.get("context_slices", 0) and params.get("channels", 1) != 1:
        raise ConfigError(f"context_slices {params['context_slices']} gives the model its neighbouring slices as "
                          f"channels; channels must then be 1, got {params['channels']}")
    multiple = 2 ** params.get("depth", 0)
    for key in ("patch_size", "eval_window"):
        if params.get(key) and params[key] % multiple:
            raise ConfigError(f"parameter {key!r} = {params[key]} must be a multiple of 2**depth = {multiple} "
                              f"(the model halves the size {params['depth']} times)")
    if params.get("lr_schedule") != "constant" and params.get("min_learning_rate", 0) >= params.get(
            "learning_rate", math.inf):
        raise ConfigError(f"min_learning_rate {params['min_learning_rate']:g} must be below learning_rate "
                          f"{params['learning_rate']:g} (the schedule's floor)")
    if params.get("warmup_epochs", 0) >= params.get("epochs", math.inf) and params.get("warmup_epochs", 0) > 0:
        raise ConfigError(f"warmup_epochs {params['warmup_epochs']:g} must be fewer than epochs {params['epochs']}")


def input_channels(params: Mapping[str, Any]) -> int:
    """Channels of the model's input: ``2 * context_slices + 1`` for 2.5D input, else ``channels``."""
    context = int(params.get("context_slices", 0) or 0)
    return 2 * context + 1 if context else int(params["channels"])


def steps_per_epoch(params: Mapping[str, Any], train_patches: int) -> int:
    """Optimizer steps per epoch: ``samples_per_epoch`` patches (0 = every training patch) in batches, the last
    one partial."""
    samples = params["samples_per_epoch"] or train_patches
    return max(1, math.ceil(samples / params["batch_size"]))
