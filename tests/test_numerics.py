"""Numerics per machine: the auto rule on faked CPU flags and GPUs, explicit values kept, bad values refused."""

import pytest

from mitolib.core.numerics import Device, cpu_flags, resolve_jit, resolve_numerics, resolve_policy

CPUINFO_BF16 = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 fma avx512f avx512_bf16\n"
CPUINFO_AVX2 = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx2 fma\n"


def device(cpuinfo: str) -> Device:
    name, flags = cpu_flags(cpuinfo)
    return Device("cpu", name, flags)


def test_cpu_flags_are_read_from_cpuinfo_text():
    name, flags = cpu_flags(CPUINFO_BF16)
    assert name == "AMD EPYC 9R14" and {"avx2", "avx512_bf16"} <= flags
    assert cpu_flags("")[1] == frozenset()


@pytest.mark.parametrize("cpuinfo, policy, jit", [
    (CPUINFO_BF16, "mixed_bfloat16", False),  # bf16 instructions: bfloat16 without XLA (XLA measured slower)
    (CPUINFO_AVX2, "float32", True),          # no bf16: float32 with XLA (measured faster on AVX2)
])
def test_auto_on_cpus(cpuinfo, policy, jit):
    resolved = resolve_numerics({"mixed_precision": "auto", "jit_compile": "auto"}, device(cpuinfo))
    assert (resolved["mixed_precision"], resolved["jit_compile"]) == (policy, jit)
    assert resolved["device"].startswith("CPU: ")


@pytest.mark.parametrize("capability, policy", [((9, 0), "mixed_bfloat16"), ((7, 5), "mixed_float16")])
def test_auto_on_gpus(capability, policy):
    gpu = Device("gpu", "NVIDIA H200", capability=capability)
    assert resolve_policy("auto", gpu) == policy and resolve_jit("auto", gpu, policy) is True


def test_explicit_values_are_kept_and_bad_ones_refused():
    bf16 = device(CPUINFO_BF16)
    assert resolve_policy("", bf16) == "float32" and resolve_policy("mixed_float16", bf16) == "mixed_float16"
    assert resolve_jit("true", bf16, "mixed_bfloat16") is True and resolve_jit(False, bf16, "float32") is False
    with pytest.raises(ValueError, match="mixed_precision 'half'"):
        resolve_policy("half", bf16)
    with pytest.raises(ValueError, match="jit_compile 'sometimes'"):
        resolve_jit("sometimes", bf16, "float32")


def test_a_run_records_what_it_resolved(smoke_run):
    import json

    from mitolib.core import rundir

    record = json.loads((smoke_run.run_dir / "params.json").read_text())
    metrics = rundir.read_metrics(smoke_run.run_dir)
    assert record["resolved"]["mixed_precision"] == metrics["resolved_mixed_precision"] == "float32"  # smoke: ""
    assert metrics["device"].startswith(("CPU: ", "GPU: "))
    assert record["resolved"]["batch_norm_kernel"] == metrics["resolved_batch_norm_kernel"] == "fused"


def test_batch_norm_kernel_is_fused_on_tensorflow_and_recorded():
    from mitolib.core.numerics import batch_norm_kernel

    assert batch_norm_kernel("tensorflow") == "fused"
    assert batch_norm_kernel("jax") == "keras"
    resolved = resolve_numerics({"mixed_precision": "", "jit_compile": "false"}, device(CPUINFO_AVX2))
    assert resolved["batch_norm_kernel"] == "fused"  # the tests run on the TensorFlow backend


def test_a_named_batch_norm_kernel_wins_and_a_wrong_one_is_refused():
    from mitolib.training.train import fused_batch_norm

    assert fused_batch_norm({}) is True
    assert fused_batch_norm({"batch_norm_kernel": "keras"}) is False
    with pytest.raises(ValueError, match="batch_norm_kernel 'cudnn' is not one of fused, keras: write 'fused' "
                                         r"\(TensorFlow's fused kernel\) or 'keras'"):
        fused_batch_norm({"batch_norm_kernel": "cudnn"})
