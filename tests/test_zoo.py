"""The BioImage Model Zoo's own model test (``bioimageio.core.test_model``) on an exported package.

``bioimageio.core`` pins a ``bioimageio.spec`` that fails under the pydantic the project's environment holds, so it
runs in an environment of its own: ``make test`` builds ``.zoo-venv`` (``bioimageio.core`` 0.11.0, pydantic < 2.12,
the project's TensorFlow and Keras) and points ``MITOLIB_ZOO_PYTHON`` at its interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from mitolib.training.export import export_run

ZOO_PYTHON = os.environ.get("MITOLIB_ZOO_PYTHON", "")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (ZOO_PYTHON and os.path.exists(ZOO_PYTHON)),
    reason="MITOLIB_ZOO_PYTHON names no interpreter with bioimageio.core: `make test` builds .zoo-venv and sets it")]

ZOO_TEST = """
import json, sys
from bioimageio.core import test_model
summary = test_model(sys.argv[1])
print(json.dumps({"status": summary.status,
                  "details": [[d.status, d.name, list(d.loc)] for d in summary.details]}))
"""


def test_the_zoos_own_test_passes_for_every_weight_format(smoke_run, tmp_path):
    package = export_run(smoke_run.run_dir, tmp_path / "model.zip")
    done = subprocess.run([ZOO_PYTHON, "-c", ZOO_TEST, str(package)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [detail for detail in summary["details"] if detail[0] == "failed"]
    assert summary["status"] == "passed" and failed == []
    reproduced = {detail[2][1] for detail in summary["details"]
                  if detail[1].startswith("Reproduce test outputs") and detail[0] == "passed"}
    assert reproduced == {"keras_v3", "tensorflow_saved_model_bundle", "onnx"}
