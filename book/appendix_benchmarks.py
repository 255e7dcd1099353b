# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: benchmarks
#
# Training and evaluation speed of the library on the machines it was measured on, as
# written by the benchmark scripts to `benchmarks/results/` (`latest.md`, or `latest.json`).
# Unlike the chapters, this page does not fail when nothing has been measured: it says so.

# %% tags=["remove-input"]
import pandas as pd
from IPython.display import Markdown, display

from mitolib.report import pages, notices, summaries, targets
from mitolib.core import claims
from mitolib.core.config import speed_targets

speed_goals = speed_targets()  # studies.yml: speed_targets

display(notices.notice(required=False))
latest = pages.project_root() / "benchmarks" / "results" / "latest.json"
if latest.is_file():
    import json

    from mitolib.figures import plots

    measured = json.loads(latest.read_text(encoding="utf-8"))
    table = pd.DataFrame(measured.get("training_summary") or [])
    machine = measured.get("machine") or {}
    if len(table) and "speed_ratio_median" in table.columns:
        fig = plots.speed_ratios(table, target=speed_goals.get("best"), labels={
            **pages.ARCHITECTURE_LABELS, "project": "project pipeline",
            targets.CEILING_VARIANT: "no input work (one fixed batch)", "xla": "project + XLA",
            "threads": "project, other thread counts", "mixed": "project + mixed precision",
            "keras_bn": "project, Keras 3's composite batch norm",
            "mixed_keras_bn": "project + mixed precision, Keras 3's composite batch norm"})
        pages.glue_figure("fig-speed", fig)
checks = (targets.speed_target_table(table, speed_goals) if latest.is_file() and len(table)
          and "speed_ratio_median" in table.columns else pd.DataFrame(columns=targets.SPEED_TARGET_COLUMNS))
pages.glue("benchmark_machine", measured.get("label", "one machine") if latest.is_file() else "none")
for configuration in ("fastest", "plain"):
    part = checks[checks["configuration"] == configuration]
    pages.glue(f"{configuration}_checked", int(len(part)))
    pages.glue(f"{configuration}_met", int(part["met"].sum()))
    pages.glue(f"{configuration}_low", float(part["ratio"].min()) if len(part) else float("nan"))
    pages.glue(f"{configuration}_high", float(part["ratio"].max()) if len(part) else float("nan"))
pages.glue("best_target", float(speed_goals.get("best", float("nan"))))
pages.glue("plain_target", float(speed_goals.get("plain", float("nan"))))

# %% [markdown]
# ```{glue:figure} fig-speed
# :name: fig-speed
#
# Training images per second of each configuration relative to the original pipeline (float64
# NumPy arrays, three channels, `fit(x, y)`), per architecture (colours) and model width (panels):
# dot at the median over rounds, bar over the range; solid line at 1, dotted at the target. A
# configuration pays only where its bar lies right of the solid line.
# **Conclusion:** the fastest configuration reaches the {glue:text}`best_target:.1f`x target for
# {glue:text}`fastest_met` of {glue:text}`fastest_checked` architecture-width cells
# ({glue:text}`fastest_low:.2f`x to {glue:text}`fastest_high:.2f`x).
# ```
#
# Measured on {glue:md}`benchmark_machine`. The fastest configuration of each architecture reaches
# {glue:text}`fastest_low:.2f`x to {glue:text}`fastest_high:.2f`x the original pipeline's training
# speed, at the {glue:text}`best_target:.1f`x target in {glue:text}`fastest_met` of
# {glue:text}`fastest_checked` cells. The plain project pipeline reaches {glue:text}`plain_low:.2f`x to
# {glue:text}`plain_high:.2f`x, at the {glue:text}`plain_target:.1f`x target in {glue:text}`plain_met`
# of {glue:text}`plain_checked`; the table gives every cell with the range of its rounds, and the next
# sections ask whether a shortfall is more than that spread. The full report of that run, with every
# column, is folded below.

# %% tags=["remove-input"]
if len(checks):
    display(pages.markdown_table(checks.assign(architecture=checks["architecture"].map(pages.arch_label)),
                                 formats={"ratio": ".2f", "lowest_round": ".2f", "highest_round": ".2f",
                                          "target": ".1f"}))

# %% tags=["remove-input"]
display(Markdown("::::{dropdown} The full benchmark report\n" + summaries.benchmark_report().data + "\n::::"))

# %% [markdown]
# ## Every machine measured
#
# Machines differ: the fastest configuration on one is not the fastest on another. Every committed
# benchmark run, one row per model width (ratios: the median over architectures of each
# architecture's median, and the lowest architecture's; `project` is the plain project pipeline,
# `xla` adds `jit_compile`, `mixed` the mixed-precision policy):

# %% tags=["remove-input"]
machines = summaries.benchmark_machines()
display(pages.markdown_table(machines) if len(machines) else Markdown("No benchmark run is committed."))

# %% [markdown]
# This is why the `cpu` profile does not fix its numerics: `mixed_precision: auto` and
# `jit_compile: auto` resolve, at the start of each run, from the machine (`mitolib.core.numerics`:
# `mixed_bfloat16` without XLA on a CPU with a bfloat16 unit, float32 with XLA on other CPUs), and
# each run records what they resolved to (`resolved_mixed_precision`, `resolved_jit_compile` in
# `runs.csv`). The `recipe` chapter checks that bfloat16 reaches the test IoU of float32 within the
# seed spread.

# %% [markdown]
# ## The plain pipeline against the original, with its noise
#
# The plain project pipeline and the original pipeline train the same model on the same kernels and
# differ only in how batches reach `fit`, so whether the first is slower is a question of a few per
# cent, about the size of the noise between rounds on a shared 2-core machine. By the rule every
# chapter uses (`mitolib.core.claims.compare`), each benchmark round is a pair: the ratio below is the
# geometric mean of the rounds' ratios, with the {glue:md}`plain_confidence` interval of the paired
# difference of log images/s, and a difference is claimed only when that interval excludes a ratio
# of 1.

# %% tags=["remove-input"]
pages.glue("plain_confidence", summaries.CONFIDENCE_TEXT)


def count_verdicts(frame, name):
    """Glue how many comparisons of ``frame`` are not resolved, faster and slower."""
    pages.glue(f"{name}_comparisons", int(len(frame)))
    for verdict, word in ((claims.NOT_RESOLVED, "unresolved"), (summaries.FASTER, "faster"),
                          (summaries.SLOWER, "slower")):
        pages.glue(f"{name}_{word}", int((frame["verdict"] == verdict).sum()) if len(frame) else 0)


plain = summaries.pipeline_comparison()
count_verdicts(plain, "plain")
if len(plain):
    display(pages.markdown_table(plain))

# %% [markdown]
# The {glue:text}`plain_comparisons` comparisons (committed runs, widths and architectures) split
# into {glue:text}`plain_faster` faster, {glue:text}`plain_slower` slower and
# {glue:text}`plain_unresolved` not resolved: the table names them. What the pipeline itself costs, without a model, is measured by
# `python -m benchmarks.pipeline_parts --serving-only` (`benchmarks/README.md`).
#
# ## What any input pipeline could reach
#
# An input pipeline can at best cost nothing. The `fixed` configuration measures that ceiling: the
# project pipeline's first batch, held as a tensor and fed again at every step, so that nothing is
# read, shuffled, augmented or cast while the model trains (`benchmarks/training.py`). Against the
# original pipeline it shows how much faster than the original any way of feeding batches could make
# the same model on the same kernels; the project pipeline against it shows what the project's input
# work costs. Both by the same rule, the rounds as pairs.

# %% tags=["remove-input"]
ceiling = summaries.pipeline_comparison(variant=targets.CEILING_VARIANT)
cost = summaries.pipeline_comparison(reference=targets.CEILING_VARIANT)
count_verdicts(ceiling, "ceiling")
count_verdicts(cost, "cost")
if len(ceiling) and len(cost):
    display(pages.markdown_table(ceiling))
    display(pages.markdown_table(cost))

# %% [markdown]
# No input work against the original pipeline, in {glue:text}`ceiling_comparisons` comparisons:
# {glue:text}`ceiling_faster` faster, {glue:text}`ceiling_unresolved` not resolved. The project
# pipeline against no input work, in {glue:text}`cost_comparisons`: {glue:text}`cost_slower` slower,
# {glue:text}`cost_unresolved` not resolved. Where doing no input work is not measurably
# faster, the training step is the model's arithmetic, and a plain-pipeline ratio below its target
# is the round-to-round spread, not a cost that another pipeline could remove.

# %% [markdown]
# ## Does the faster default change the results?
#
# The first benchmarked machine found XLA compilation (`jit_compile`) faster for training, so the
# `cpu` profile used it then. The `seeds` study ran its first U-Net runs without it
# (`benchmarks/results/cpu-seeds-before-xla.csv`, the `runs.csv` collected then) and again with it
# (`book/data/seeds_six_epochs_runs.csv`, the six-epoch study as collected before the recipe changed).
# Run by run, same seed:

# %% tags=["remove-input"]
before = pages.project_root() / "benchmarks" / "results" / "cpu-seeds-before-xla.csv"
try:
    check = summaries.option_check(before, pages.load_csv("seeds_six_epochs_runs"), "jit_compile")
except FileNotFoundError as missing:
    check = pd.DataFrame()
    display(pages.not_drawn("The comparison run by run", missing))
if len(check):
    display(pages.markdown_table(check))
pages.glue("xla_pairs", int(len(check)))
pages.glue("xla_largest", float(check["difference"].abs().max()) if len(check) else float("nan"))
pages.glue("xla_spread", float(pd.read_csv(before).query("status == 'done'")["test_iou"].std(ddof=1))
           if before.is_file() else float("nan"))

# %% [markdown]
# {glue:text}`xla_pairs` pairs compared: the largest change of test IoU is {glue:text}`xla_largest:.3f`,
# against a standard deviation over seeds without XLA of {glue:text}`xla_spread:.3f`. Training times of
# the earlier runs were taken while other work shared the
# machine, so only the benchmark's ratios above measure speed.
#
# ## Try it yourself
#
# * Run the benchmarks with the scripts in `benchmarks/` and rebuild the book; this page then
#   shows `benchmarks/results/latest.md`.
