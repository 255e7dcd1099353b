"""Numerics per machine: which mixed-precision policy, whether XLA, and which batch-norm kernel, resolved at the
start of a run.

``mixed_precision: auto`` and ``jit_compile: auto`` in ``studies.yml`` become concrete values here, from
what the machine has, by the rule measured with ``python -m benchmarks.run`` (``../benchmarks/README.md``):

* a GPU: ``mixed_bfloat16`` where it computes in bfloat16 (compute capability 8.0 and newer),
  ``mixed_float16`` otherwise, and XLA;
* a CPU with bfloat16 instructions (``avx512_bf16`` or ``amx_bf16``): ``mixed_bfloat16`` without XLA
  (XLA trained 0.84x the plain speed there, bfloat16 1.35x);
* any other CPU: float32 with XLA (1.21–1.45x on AVX2 machines).

Batch norm runs on TensorFlow's fused kernel wherever Keras runs on TensorFlow (``batch_norm_kernel``
``fused``; :mod:`mitolib.model.fused_bn`: the same weights and results; 1.35x–1.54x the training speed of Keras 3's
composite ops at the ``cpu`` width under ``mixed_bfloat16`` on the AVX-512 EPYC, ``../benchmarks/README.md``),
and on Keras' own code on the other backends (``keras``).  Runs collected before the fused kernel existed record
no kernel and used Keras' code.

The resolved values and the device that trained are recorded in ``params.json`` and ``metrics.json``
(so in ``runs.csv``).  Explicit values (``""``/``float32``, ``mixed_bfloat16``, ``true``, ``false``) are
kept as written.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

AUTO = "auto"
FLOAT32 = "float32"
BFLOAT16 = "mixed_bfloat16"
FLOAT16 = "mixed_float16"
POLICIES = (FLOAT32, BFLOAT16, FLOAT16)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and newer compute in bfloat16
CPUINFO = Path("/proc/cpuinfo")
FUSED, KERAS = "fused", "keras"  # batch-norm kernels: TensorFlow's FusedBatchNormV3, Keras 3's composite ops
UNRECORDED_BATCH_NORM_KERNEL = KERAS  # what the runs collected before the fused kernel existed used
BATCH_NORM_KERNELS = (FUSED, KERAS)
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class Device:
    """What trains: ``kind`` ``cpu`` or ``gpu``, a readable ``name``, the CPU ``flags`` and the GPU's capability."""

    kind: str
    name: str
    flags: frozenset = frozenset()
    capability: tuple | None = None

    def describe(self) -> str:
        """``"GPU: <name>"`` or ``"CPU: <model> (<n> cores; bf16: yes|no)"`` for tables."""
        if self.kind == "gpu":
            return f"GPU: {self.name}"
        return f"CPU: {self.name} (bf16: {'yes' if self.flags & set(BF16_CPU_FLAGS) else 'no'})"


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, frozenset]:
    """``(model name, flags)`` from the text of ``/proc/cpuinfo`` (read when ``None``; empty where absent)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    name, flags = platform.processor() or platform.machine(), frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            name = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return name, flags


def detect_device() -> Device:
    """The device Keras will train on: the first GPU TensorFlow or JAX sees, else the CPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return Device("gpu", details.get("device_name", gpus[0].name),
                              capability=tuple(details.get("compute_capability") or ()) or None)
        elif backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                capability = getattr(gpus[0], "compute_capability", None)
                capability = tuple(int(part) for part in str(capability).split(".")) if capability else None
                return Device("gpu", gpus[0].device_kind, capability=capability)
    except (ImportError, RuntimeError):
        pass
    name, flags = cpu_flags()
    return Device("cpu", name, flags)


def resolve_policy(value: str, device: Device) -> str:
    """The mixed-precision policy for the configured ``value`` on ``device`` (see the module docstring)."""
    value = (value or FLOAT32).strip()
    if value != AUTO:
        if value not in POLICIES:
            raise ValueError(f"mixed_precision {value!r} is not one of auto, {', '.join(POLICIES)} ('' = float32)")
        return value
    if device.kind == "gpu":
        return BFLOAT16 if device.capability and tuple(device.capability) >= BF16_GPU_CAPABILITY else FLOAT16
    return BFLOAT16 if device.flags & set(BF16_CPU_FLAGS) else FLOAT32


def resolve_jit(value, device: Device, policy: str) -> bool:
    """Whether to compile the training step with XLA for the configured ``value`` (``auto``, true or false)."""
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    if text != AUTO:
        raise ValueError(f"jit_compile {value!r} must be auto, true or false")
    return device.kind == "gpu" or policy == FLOAT32


def batch_norm_kernel(backend: str | None = None) -> str:
    """``fused`` on the TensorFlow backend (``backend``, else Keras' current one), ``keras`` on the others."""
    import keras

    return FUSED if (backend or keras.backend.backend()) == "tensorflow" else KERAS


def resolve_numerics(params: dict, device: Device | None = None) -> dict:
    """``{"mixed_precision", "jit_compile", "batch_norm_kernel", "device"}`` resolved for ``params`` on ``device``
    (detected when ``None``)."""
    device = device or detect_device()
    policy = resolve_policy(params["mixed_precision"], device)
    return {"mixed_precision": policy, "jit_compile": resolve_jit(params["jit_compile"], device, policy),
            "batch_norm_kernel": batch_norm_kernel(), "device": device.describe()}
