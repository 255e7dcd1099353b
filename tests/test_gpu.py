"""Checks for GPU nodes: skipped, with the reason, where TensorFlow is absent or sees no GPU."""

import keras
import numpy as np
import pytest

from mitolib.core.config import resolve_params
from mitolib.training.train import compile_model

tf = pytest.importorskip("tensorflow", reason="the GPU checks use TensorFlow's device list")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="no GPU visible to TensorFlow"),
]


@pytest.fixture(autouse=True)
def _float32_afterwards():
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_training_steps_on_the_gpu(policy):
    keras.mixed_precision.set_global_policy(policy)
    params = resolve_params("smoke", {"architecture": "attention_resunet", "mixed_precision": policy})
    model = compile_model(params)
    x = np.random.default_rng(0).random((4, 32, 32, 1), dtype="float32")
    y = (x > 0.5).astype("float32")
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(3)]
    assert all(np.isfinite(losses))
    assert model.predict(x, verbose=0).dtype == np.float32  # the head's sigmoid stays float32
