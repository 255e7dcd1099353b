"""Parameter validation: one schema, checked when parameters resolve, so plan, run, submit and train refuse
impossible values before any data is read or any job submitted."""

from __future__ import annotations

import re

import pytest

from mitolib.core import schema
from mitolib.cli import main
from mitolib.core.config import resolve_params
from mitolib.core.errors import ConfigError


@pytest.mark.parametrize("key, value, message", [
    ("batch_size", -1, "'batch_size' = -1 is not allowed: it must be >= 1"),
    ("patch_size", 0, "'patch_size' = 0 is not allowed: it must be >= 8"),
    ("scale", 2, "'scale' = 2.0 is not allowed: it must be in (0, 1]"),
    ("architecture", "vnet", "'architecture' = 'vnet' is not allowed: it must be one of 'unet', 'attention_unet'"),
    ("learning_rate", 0, "'learning_rate' = 0.0 is not allowed: it must be > 0"),
    ("learning_rate", -0.1, "'learning_rate' = -0.1 is not allowed"),
    ("threshold", 1.0, "'threshold' = 1.0 is not allowed: it must be in (0, 1)"),
    ("eval_overlap", 1.0, "'eval_overlap' = 1.0 is not allowed: it must be in [0, 1)"),
    ("z_median", 4, "'z_median' = 4 is not allowed: it must be >= 1 and odd"),
    ("jit_compile", "maybe", "'jit_compile' = 'maybe' is not allowed: it must be one of 'auto', 'true', 'false'"),
    ("patch_size", 36, "'patch_size' = 36 must be a multiple of 2\\*\\*depth = 16"),
])
def test_bad_values_are_refused_when_resolving(key, value, message):
    with pytest.raises(ConfigError) as raised:
        resolve_params("cpu", {key: value})
    assert re.search(message if "\\" in message else re.escape(message), str(raised.value)), str(raised.value)


def test_rules_between_parameters():
    with pytest.raises(ConfigError, match="min_learning_rate 0.01 must be below learning_rate 0.001"):
        resolve_params("cpu", {"min_learning_rate": 0.01, "lr_schedule": "cosine"})
    with pytest.raises(ConfigError, match="warmup_epochs 6 must be fewer than epochs 6"):
        resolve_params("cpu", {"warmup_epochs": 6, "epochs": 6, "lr_schedule": "cosine"})


def test_every_profile_and_default_is_valid():
    from mitolib.core.config import load_config

    for profile in load_config()["profiles"]:
        resolve_params(profile)  # raises if a committed profile breaks the schema


def test_every_rule_names_a_parameter_of_the_defaults():
    from mitolib.core.config import load_config

    assert set(schema.RULES) <= set(load_config()["defaults"])


@pytest.mark.parametrize("command", [["study", "plan", "seeds", "--profile", "cpu", "-p", "batch_size", "-1"],
                                     ["study", "run", "seeds", "--profile", "smoke", "-p", "learning_rate", "0"],
                                     ["study", "submit", "seeds", "--dry-run", "-p", "threshold", "2"],
                                     ["train", "--profile", "smoke", "-p", "eval_overlap", "1"]])
def test_commands_refuse_before_any_run(command, capsys):
    code = main(command)
    err = capsys.readouterr().err
    assert code == 2 and "is not allowed" in err
