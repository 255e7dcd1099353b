"""Writing results: ``<label>.json``, ``latest.json`` and ``latest.md`` (plus ``<label>.md``).

The JSON holds everything (machine, settings, every task's measurements, the summaries); its
``results`` key is the training summary, one flat row per configuration.  The Markdown report is
rendered from the JSON alone (:func:`render_markdown`), so a stored JSON can be re-rendered.
"""

from __future__ import annotations

import math
from pathlib import Path

from mitolib.core.rundir import atomic_write_json, atomic_write_str

GIB = 2**30
GIGA = 1e9
MEGA = 1e6
MIB = 2**20
RATIO_COLUMN = "images/s ratio project / baseline: median [min–max]"
OPTION_RATIO_COLUMN = "images/s ratio option / project: median [min–max]"
MEMORY_RATIO_COLUMN = "peak RSS ratio / baseline (median)"
MISSING = "–"
SIGNIFICANT = 3           # significant digits in tables
BUSY_LOAD_PER_CORE = 0.25  # 1-minute load per usable core at the start above which the report warns


def _number(value, digits: int = SIGNIFICANT) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:.{digits}g}"


def _scaled(value, unit: float, digits: int = SIGNIFICANT) -> str:
    return MISSING if value is None else _number(value / unit, digits)


def _spread(row: dict, prefix: str, unit: float = 1.0) -> str:
    median = row.get(f"{prefix}_median")
    if median is None or (isinstance(median, float) and not math.isfinite(median)):
        return MISSING
    low, high = row.get(f"{prefix}_min"), row.get(f"{prefix}_max")
    return f"{_scaled(median, unit)} [{_scaled(low, unit)}–{_scaled(high, unit)}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (cells are used as given; pipes are escaped)."""
    def line(cells):
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"
    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|"] + [line(row) for row in rows])


def training_table(summary: list[dict]) -> str:
    """Throughput, memory, FLOP rate and the pairwise ratios of every training configuration."""
    header = ["width (base filters)", "architecture", "configuration", "images/s: median [min–max]", "Mpixel/s",
              "training data in memory (MiB)", "peak RSS (GiB)", "GFLOP/s", "% of peak", RATIO_COLUMN,
              OPTION_RATIO_COLUMN, MEMORY_RATIO_COLUMN, "n"]
    rows = []
    for row in summary:
        ratio = _spread(row, "speed_ratio") if "speed_ratio_median" in row else MISSING
        option = _spread(row, "option_ratio") if "option_ratio_median" in row else MISSING
        memory_ratio = _number(row.get("memory_ratio_median")) if "memory_ratio_median" in row else MISSING
        rss = _scaled(row.get("peak_rss_bytes_median"), GIB)
        if row.get("peak_gpu_bytes_median") is not None and math.isfinite(row["peak_gpu_bytes_median"]):
            rss += f" (GPU {_scaled(row['peak_gpu_bytes_median'], GIB)})"
        policy = f" ({row['policy']})" if row.get("policy") and row["policy"] != "float32" else ""
        rows.append([f"{row['width']} ({row['base_filters']})", row["architecture"], row["configuration"] + policy,
                     _spread(row, "images_per_second"), _scaled(row.get("pixels_per_second_median"), MEGA),
                     _scaled(row.get("data_bytes"), MIB), rss, _scaled(row.get("achieved_flops_per_second_median"), GIGA),
                     _number(row.get("percent_of_peak"), 2), ratio, option, memory_ratio,
                     f"{row['measured']}" + (f" ({row['failed']} failed)" if row["failed"] else "")])
    return table(header, rows)


def flops_table(flops: list[dict]) -> str:
    """FLOPs per image of every benchmarked model."""
    header = ["architecture", "width (base filters)", "input", "parameters (M)", "forward GFLOP/image",
              "training GFLOP/image (3x forward)", "profiler forward GFLOP/image (all ops)"]
    rows = [[row["architecture"], f"{row['width']} ({row['base_filters']})",
             f"{row['patch_size']}x{row['patch_size']}x{row['channels']}", _scaled(row["parameters"], MEGA),
             _scaled(row["forward_flops_per_image"], GIGA), _scaled(row["training_flops_per_image"], GIGA),
             _scaled(row.get("profiler_forward_flops_per_image"), GIGA)] for row in flops]
    return table(header, rows)


def evaluation_table(summary: list[dict]) -> str:
    """Full-volume evaluation time without and with test-time augmentation."""
    header = ["TTA", "volume (S, H, W)", "seconds: median [min–max]", "slices/s", "peak RSS (GiB)",
              "time ratio TTA / none: median [min–max]", "n"]
    rows = [["8-fold" if row["tta"] else "none", MISSING if not row.get("volume_shape") else
             " x ".join(str(v) for v in row["volume_shape"]), _spread(row, "seconds"),
             _number(row.get("slices_per_second_median")), _scaled(row.get("peak_rss_bytes_median"), GIB),
             _spread(row, "tta_time_ratio") if "tta_time_ratio_median" in row else MISSING,
             f"{row['measured']}" + (f" ({row['failed']} failed)" if row["failed"] else "")] for row in summary]
    return table(header, rows)


def _machine_lines(results: dict) -> list[str]:
    machine, probe = results["machine"], results.get("probe", {})
    gpus = ", ".join(f"{g['name']} (compute capability {g.get('compute_capability')})" for g in probe.get("gpus", []))
    versions = ", ".join(f"{name} {version}" for name, version in sorted(results.get("versions", {}).items()))
    load = results.get("load_average", {})
    lines = [
        f"- Device: **{results['device']}**; CPU: {machine['cpu_model']}, {machine['usable_cores']} usable of "
        f"{machine['logical_cores']} logical cores ({machine.get('physical_cores') or '?'} physical)",
        f"- CPU flags: {', '.join(machine['cpu_flags']) or 'none of interest'}; bfloat16 unit: "
        f"{'yes' if machine['cpu_bf16'] else 'no'}",
        f"- Memory: {_scaled(machine.get('memory_bytes'), GIB)} GiB; GPU: {gpus or 'none'}",
        f"- Python {machine['python']}, {machine['platform']}; {versions}",
        f"- TensorFlow default threads (intra/inter, 0 = automatic): {probe.get('default_intra_op_threads')}/"
        f"{probe.get('default_inter_op_threads')}" + (f"; TF32 for float32 matmuls: {probe.get('tensor_float_32')}"
                                                       if probe.get("gpus") else ""),
        f"- Load average (1, 5, 15 min) at the start: {load.get('start')}, at the end: {load.get('end')}",
    ]
    start = (load.get("start") or [0])[0]
    if start > BUSY_LOAD_PER_CORE * machine["usable_cores"]:
        lines.append(f"- **Warning**: the machine was busy when the run started (load {start}); other work "
                     "competes for the cores and the numbers understate what it can do.")
    return lines


def _settings_lines(results: dict) -> list[str]:
    s = results["settings"]
    peaks = results.get("peak_flops_per_second", {})
    peak_text = "; ".join(f"{dtype}: {_scaled(value, GIGA)} GFLOP/s" for dtype, value in sorted(peaks.items()))
    return [
        f"- Training data: {s['patches']} patches of {s['patch_size']}x{s['patch_size']} pixels ({s['data_source']}, "
        f"scale {s['scale']}), batch {s['batch_size']}, the `{s['profile']}` profile's model settings, loss and metrics",
        f"- Each measurement: {s['warmup']} untimed warm-up step(s), then timed steps: "
        f"{', '.join(f'{steps} at the {width} width' for width, steps in s['steps'].items())}; "
        f"{s['repeats']} rounds, configurations interleaved (order reversed every other round); "
        "ratios are taken round by round and summarised (median [min–max])",
        f"- Baseline: {s['baseline']}; project: {s['project']}",
        f"- Options: {s['options']}",
        f"- Memory: {s['memory']}",
        f"- FLOPs: {s['flops']}",
        f"- Peak: {s['peak']} Best measured: {peak_text or MISSING}",
        f"- Evaluation: {s['evaluation']}",
    ]


def render_markdown(results: dict) -> str:
    """The Markdown report of a results dict (as written to ``<label>.json``)."""
    parts = [f"# Benchmarks: {results['label']}", ""]
    if results["settings"]["quick"]:
        parts += ["**Quick mode: tiny shapes to check that the benchmark runs. These are not measurements.**", ""]
    parts += [f"Run {results['created']} at commit `{results['git_commit']}` in {_number(results['wall_seconds'] / 60)} "
              f"minutes: `{results['command']}`", "", "## Machine", "", *_machine_lines(results), "",
              "## Settings", "", *_settings_lines(results), "", "## Training throughput", "",
              training_table(results["training_summary"]), "", "## FLOPs per image", "", flops_table(results["flops"]),
              ""]
    if results.get("evaluation_summary"):
        parts += ["## Full-volume evaluation", "", evaluation_table(results["evaluation_summary"]), ""]
    notes = [f"- {item['what']}: skipped, {item['reason']}" for item in results.get("skipped", [])]
    notes += [f"- {item['what']}: failed, {item['error']}" for item in results.get("failures", [])]
    if notes:
        parts += ["## Skipped and failed", "", *notes, ""]
    return "\n".join(parts)


def write_results(results: dict, out: Path) -> list[Path]:
    """Write ``<label>.json``, ``<label>.md``, ``latest.json`` and ``latest.md`` into ``out``; the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(results)
    paths = []
    for stem in (results["label"], "latest"):
        paths.append(atomic_write_json(out / f"{stem}.json", results))
        paths.append(atomic_write_str(out / f"{stem}.md", markdown))
    return paths
