"""One rule for the default profile, printed by every command, and GPU profiles refused on a CPU machine."""

import pytest

from mitolib.cli import main
from mitolib.core.config import DEFAULT_PROFILE, profile_in_use, resolve_params


def test_one_default_profile_for_every_command(monkeypatch, capsys):
    monkeypatch.delenv("MITOLIB_PROFILE", raising=False)
    assert profile_in_use(None) == (DEFAULT_PROFILE, "the default; choose another with --profile or $MITOLIB_PROFILE")
    assert main(["study", "plan", "seeds"]) == 0
    assert f"profile: {DEFAULT_PROFILE} (the default" in capsys.readouterr().err
    monkeypatch.setenv("MITOLIB_PROFILE", "smoke")
    assert profile_in_use(None) == ("smoke", "$MITOLIB_PROFILE")
    assert main(["study", "plan", "seeds"]) == 0
    captured = capsys.readouterr()
    assert "profile: smoke ($MITOLIB_PROFILE)" in captured.err and "runs/smoke/seeds" in captured.out
    assert profile_in_use("gpu") == ("gpu", "--profile")


def test_a_gpu_profile_is_refused_without_a_gpu(tmp_path, capsys):
    from mitolib.core.numerics import detect_device
    from mitolib.training.train import train

    if detect_device().kind == "gpu":
        pytest.skip("this machine has a GPU")
    params = resolve_params("smoke", {"require_gpu": True})
    with pytest.raises(RuntimeError, match="sized for a GPU and this machine has none.*-p require_gpu false"):
        train(params, tmp_path / "run", progress=False)
    assert main(["study", "run", "architectures", "--profile", "smoke", "-p", "require_gpu", "true"]) == 2
    assert "sized for a GPU (require_gpu)" in capsys.readouterr().err
