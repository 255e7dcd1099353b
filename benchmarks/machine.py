"""What the machine is: CPU model, cores, instruction-set flags, memory; a label for result files.

Everything here reads the operating system only (``/proc/cpuinfo``, ``sysconf``); accelerators are
listed by the probe subprocess (:func:`benchmarks.worker.probe`), which imports TensorFlow.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# Flags worth reporting: vector width and the low-precision units mixed precision can use.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                     "amx_tile", "amx_bf16", "amx_int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # any of these: bfloat16 matmuls run in hardware
LABEL_WORDS = 3                           # words of the CPU model kept in a machine label
LABEL_SKIPPED = ("processor", "cpu")      # words of a CPU model that say nothing about the machine
LABEL_UNITS = (("avx512_bf16", "avx512 bf16"), ("amx_bf16", "amx"))  # flags named in a machine label


def parse_cpuinfo(text: str) -> dict:
    """``{"model", "flags" (sorted list), "physical_cores" (int or None)}`` from ``/proc/cpuinfo`` text."""
    model, flags, cores = "", set(), set()
    physical = core = None
    for line in text.splitlines() + [""]:
        if not line.strip():  # end of one logical processor's record
            if physical is not None and core is not None:
                cores.add((physical, core))
            physical = core = None
            continue
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
    return {"model": model, "flags": sorted(flags), "physical_cores": len(cores) or None}


def cpu_info() -> dict:
    """The parsed ``/proc/cpuinfo`` of this machine (empty model and flags where it does not exist)."""
    text = CPUINFO.read_text(encoding="utf-8", errors="replace") if CPUINFO.is_file() else ""
    info = parse_cpuinfo(text)
    info["model"] = info["model"] or platform.processor() or platform.machine()
    return info


def has_bf16(flags) -> bool:
    """Whether the CPU flags include a bfloat16 unit (AVX-512 BF16 or AMX)."""
    return any(flag in flags for flag in BF16_FLAGS)


def usable_cores() -> int:
    """Logical cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def memory_bytes() -> int | None:
    """Physical memory in bytes, or ``None`` where ``sysconf`` cannot tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (runnable processes), or ``None``."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def describe() -> dict:
    """CPU model, logical/usable/physical cores, the flags of interest, bf16 support, memory, OS."""
    info = cpu_info()
    flags = set(info["flags"])
    return {
        "cpu_model": info["model"],
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "physical_cores": info["physical_cores"],
        "cpu_flags": [flag for flag in FLAGS_OF_INTEREST if flag in flags],
        "cpu_bf16": has_bf16(flags),
        "memory_bytes": memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def slug(text: str) -> str:
    """Lower-case ``text`` with every run of other characters than letters and digits turned into ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def machine_label(machine: dict, device: str, gpu_names: list[str] | None = None) -> str:
    """A file-name label: ``gpu-<gpu model>`` or ``cpu-<first words of the CPU model>-<N>cores``, followed on a
    CPU by what decides its fastest numerics: ``-avx512-bf16`` and ``-amx`` where its flags have them
    (trademark marks and the word "Processor" are left out of the model)."""
    if device == "gpu" and gpu_names:
        return slug(f"gpu {gpu_names[0]}")
    words = [re.sub(r"\((r|tm)\)", "", w, flags=re.IGNORECASE) for w in re.split(r"\s+", machine["cpu_model"])]
    words = [w for w in words if w and not w.startswith("(") and w.lower() not in LABEL_SKIPPED][:LABEL_WORDS]
    flags = set(machine.get("cpu_flags") or ())
    units = [name for flag, name in LABEL_UNITS if flag in flags]
    return slug(f"cpu {' '.join(words)} {machine['usable_cores']}cores {' '.join(units)}")
