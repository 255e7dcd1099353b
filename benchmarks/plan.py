"""What a benchmark run measures: sizes (full or quick), configurations, and the task list.

Every task is a JSON-serialisable dict run by :mod:`benchmarks.worker` in a fresh subprocess.
Training tasks are ordered in rounds: for each width and architecture, round ``r`` measures every
configuration once, in forward order on even rounds and reversed on odd rounds, so that the
``r``-th measurements of two configurations are neighbours in time (see :mod:`benchmarks.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mitolib.core.config import load_config, resolve_params
from mitolib.data.epfl import EPFL_SLICES
from mitolib.core.numerics import FUSED, KERAS
from mitolib.report.targets import BASELINE_VARIANT, CEILING_VARIANT, PLAIN_VARIANT

PROFILE = "cpu"              # the profile whose settings are benchmarked
ORIGINAL_PROFILE = "original"  # the original recipe: its width is the "original" width
EPFL_HEIGHT, EPFL_WIDTH = 768, 1024  # pixels of an EPFL slice
BASELINE, PROJECT, CEILING = BASELINE_VARIANT, PLAIN_VARIANT, CEILING_VARIANT  # original, plain project, no input
MIXED_POLICY = {"cpu": "mixed_bfloat16", "gpu": "mixed_float16"}
MIXED_DTYPE = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
PEAK_DTYPE = "float32"
GPU_MATMUL_CHAIN = 10        # products per timed call on a GPU (hides launch overhead)
SEED = 0                     # model initialisation, shuffling and patch choice
ARCHITECTURE_STUDY = "architectures"  # the study whose grid lists the architectures


def study_architectures() -> tuple[str, ...]:
    """The architectures of the ``architectures`` study in ``studies.yml`` (read without importing Keras)."""
    return tuple(load_config()["studies"][ARCHITECTURE_STUDY]["grid"]["architecture"])


@dataclass(frozen=True)
class Variant:
    """One training configuration: the input pipeline and the options on top of it."""

    key: str
    title: str
    pipeline: str            # "numpy": float64 arrays to model.fit; "tfdata": mitolib.data.pipeline.make_dataset;
                             # "fixed": one batch of it, repeated (no input work)
    channels: int
    mixed: bool = False      # the device's mixed-precision policy (MIXED_POLICY)
    xla: bool = False        # jit_compile=True
    threads: bool = False    # explicit intra-/inter-op thread counts
    batch_norm_kernel: str = FUSED  # KERAS: Keras 3's composite batch norm instead of TensorFlow's fused kernel


VARIANTS = {
    BASELINE: Variant(BASELINE, "baseline: float64 NumPy, 3 channels, fit(x, y)", "numpy", 3),
    PROJECT: Variant(PROJECT, "project: uint8 tf.data, 1 channel", "tfdata", 1),
    CEILING: Variant(CEILING, "no input work: one fixed batch, 1 channel (the ceiling of any input pipeline)",
                     "fixed", 1),
    "mixed": Variant("mixed", "project + mixed precision", "tfdata", 1, mixed=True),
    "xla": Variant("xla", "project + XLA (jit_compile)", "tfdata", 1, xla=True),
    "threads": Variant("threads", "project + thread settings", "tfdata", 1, threads=True),
    "keras_bn": Variant("keras_bn", "project with Keras 3's composite batch norm", "tfdata", 1,
                        batch_norm_kernel=KERAS),
    "mixed_keras_bn": Variant("mixed_keras_bn", "project + mixed precision with Keras 3's composite batch norm",
                              "tfdata", 1, mixed=True, batch_norm_kernel=KERAS),
}


@dataclass(frozen=True)
class Preset:
    """Sizes of one benchmark run.  ``widths`` maps a width name to ``base_filters``; ``steps`` maps it to
    the timed training steps per measurement (after ``warmup`` untimed steps)."""

    name: str
    patch_size: int
    patch_stride: int        # tiling stride of the real training volume
    scale: float
    batch_size: int
    n_patches: int
    widths: dict
    steps: dict
    warmup: int
    repeats: int
    architectures: tuple
    default_widths: tuple
    eval_shape: tuple        # (slices, height, width) at the original resolution
    eval_window: int
    eval_overlap: float
    eval_batch_size: int
    eval_repeats: int
    matmul_size: dict        # device -> matrix side
    matmul_repeats: int


# The full run's sizes.
PATCHES = 256                # training patches held in memory (the baseline holds them as float64, 3 channels)
STEPS = {"cpu": 20, "original": 3}  # timed training steps per measurement, by width
WARMUP_STEPS = 2             # untimed steps before them (tracing, first allocations)
ROUNDS = 3                   # measurements of every training configuration
EVAL_ROUNDS = 2              # measurements of every evaluation configuration
MATMUL_SIDE = {"cpu": 2048, "gpu": 8192}  # matrix side of the peak measurement, by device
MATMUL_REPEATS = 5           # timed products; the best counts


def full_preset() -> Preset:
    """The real benchmark: the ``cpu`` profile's patch, stride, scale, batch and evaluation settings, at its
    width and at the original recipe's width, on ``PATCHES`` patches and the 165-slice test volume."""
    cpu, original = resolve_params(PROFILE), resolve_params(ORIGINAL_PROFILE)
    return Preset(
        name="full", patch_size=cpu["patch_size"], patch_stride=cpu["patch_stride"] or cpu["patch_size"],
        scale=cpu["scale"], batch_size=cpu["batch_size"], n_patches=PATCHES,
        widths={"cpu": cpu["base_filters"], "original": original["base_filters"]}, steps=dict(STEPS),
        warmup=WARMUP_STEPS, repeats=ROUNDS, architectures=study_architectures(), default_widths=("cpu", "original"),
        eval_shape=(EPFL_SLICES, EPFL_HEIGHT, EPFL_WIDTH), eval_window=cpu["eval_window"] or cpu["patch_size"],
        eval_overlap=cpu["eval_overlap"], eval_batch_size=cpu["eval_batch_size"], eval_repeats=EVAL_ROUNDS,
        matmul_size=dict(MATMUL_SIDE), matmul_repeats=MATMUL_REPEATS)


def quick_preset() -> Preset:
    """Tiny patches, models and volumes, to check that everything runs end to end.  Not a measurement:
    every size here is only small enough to take seconds per task."""
    return Preset(
        name="quick", patch_size=32, patch_stride=16, scale=0.5, batch_size=2, n_patches=8,
        widths={"cpu": 4, "original": 8}, steps={"cpu": 2, "original": 1}, warmup=1, repeats=2,
        architectures=study_architectures(), default_widths=("cpu",), eval_shape=(2, 64, 96), eval_window=32,
        eval_overlap=0.25, eval_batch_size=4, eval_repeats=1, matmul_size={"cpu": 256, "gpu": 1024},
        matmul_repeats=2)


def with_options(preset: Preset, *, repeats=None, steps=None, original_steps=None, warmup=None, n_patches=None,
                 eval_repeats=None) -> Preset:
    """``preset`` with the command-line choices that were given (``None`` keeps the preset's value)."""
    chosen = {"repeats": repeats, "warmup": warmup, "n_patches": n_patches, "eval_repeats": eval_repeats,
              "steps": steps, "original_steps": original_steps}
    for key, value in chosen.items():
        if value is not None and value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")
    step_map = dict(preset.steps)
    step_map["cpu"] = steps or step_map["cpu"]
    step_map["original"] = original_steps or step_map["original"]
    changes = {key: value for key, value in chosen.items()
               if value is not None and key not in ("steps", "original_steps")}
    return replace(preset, **{**changes, "steps": step_map})


def skip_reason(variant: Variant, device: str, cpu_bf16: bool) -> str | None:
    """Why ``variant`` is not measured on this machine, or ``None`` when it is."""
    if variant.mixed and device == "cpu" and not cpu_bf16:
        return "mixed_bfloat16 needs a CPU with avx512_bf16 or amx_bf16 (not in /proc/cpuinfo flags)"
    if variant.threads and device == "gpu":
        return "thread settings are a CPU option; this run trains on the GPU"
    return None


def train_params(preset: Preset, architecture: str, base_filters: int, variant: Variant, device: str) -> dict:
    """The resolved ``cpu``-profile parameters of one training configuration (``compile_model`` input)."""
    overrides = {"architecture": architecture, "base_filters": base_filters, "channels": variant.channels,
                 "patch_size": preset.patch_size, "batch_size": preset.batch_size, "seed": SEED,
                 "jit_compile": variant.xla, "mixed_precision": MIXED_POLICY[device] if variant.mixed else ""}
    return {**resolve_params(PROFILE, overrides), "batch_norm_kernel": variant.batch_norm_kernel}


def training_tasks(preset: Preset, *, architectures, widths, variants, device: str, threads, patches: str) -> list:
    """Training tasks in measuring order (see the module docstring); ``threads`` is ``(intra, inter)``."""
    tasks = []
    for width in widths:
        for architecture in architectures:
            for round_ in range(preset.repeats):
                order = variants if round_ % 2 == 0 else list(reversed(variants))
                for key in order:
                    variant = VARIANTS[key]
                    tasks.append({
                        "kind": "train", "round": round_, "width": width, "architecture": architecture,
                        "variant": key, "pipeline": variant.pipeline, "batch_size": preset.batch_size,
                        "steps": preset.steps[width], "warmup": preset.warmup, "patches": patches,
                        "threads": list(threads) if variant.threads else None,
                        "params": train_params(preset, architecture, preset.widths[width], variant, device)})
    return tasks


def eval_params(preset: Preset) -> dict:
    """The ``cpu``-profile parameters of the evaluated (untrained) U-Net."""
    return resolve_params(PROFILE, {"architecture": "unet", "patch_size": preset.patch_size, "seed": SEED,
                                    "channels": 1})


def evaluation_tasks(preset: Preset, volume: str) -> list:
    """Full-volume evaluation tasks without and with test-time augmentation, alternating, per round."""
    tasks = []
    for round_ in range(preset.eval_repeats):
        for tta in ((False, True) if round_ % 2 == 0 else (True, False)):
            tasks.append({"kind": "eval", "round": round_, "tta": tta, "volume": volume, "scale": preset.scale,
                          "window": preset.eval_window, "overlap": preset.eval_overlap,
                          "batch_size": preset.eval_batch_size, "params": eval_params(preset)})
    return tasks


def peak_tasks(preset: Preset, device: str, mixed_planned: bool, when: str) -> list:
    """Matrix-product peak tasks: float32, and the mixed-precision compute dtype when that is measured."""
    dtypes = [PEAK_DTYPE] + ([MIXED_DTYPE[MIXED_POLICY[device]]] if mixed_planned else [])
    return [{"kind": "peak", "when": when, "dtype": dtype, "size": preset.matmul_size[device],
             "repeats": preset.matmul_repeats, "chain": GPU_MATMUL_CHAIN if device == "gpu" else 1}
            for dtype in dtypes]


def flop_models(preset: Preset, architectures, widths, variants) -> list:
    """``(architecture, width, base_filters, channels)`` of every model whose FLOPs are reported."""
    channels = sorted({VARIANTS[key].channels for key in variants})
    return [(architecture, width, preset.widths[width], c) for width in widths for architecture in architectures
            for c in channels]
