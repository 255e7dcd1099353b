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
        pages.glue("speed_text", targets.speed_target_text(table, speed_goals) + ", measured on "
                  f"{measured.get('label', 'one machine')}")
    else:
        pages.glue("speed_text", "the benchmark holds no training ratios")
else:
    pages.glue("speed_text", "no benchmark has been run")

# %% [markdown]
# ```{glue:figure} fig-speed
# :name: fig-speed
#
# Training images per second of each configuration relative to the original pipeline (float64
# NumPy arrays, three channels, `fit(x, y)`), per architecture (colours) and model width (panels):
# dot at the median over rounds, bar over the range; solid line at 1, dotted at the target. A
# configuration pays only where its bar lies right of the solid line.
# **Conclusion:** {glue:md}`speed_text`.
# ```
#
# {glue:md}`speed_text`. The full report of that run, with every column, is folded below.

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


def compared_text(what, frame, ratio):
    """``<what>: K of N comparisons ... are not resolved; slower: <architecture> at the <width> width in <run> ...``."""
    def cells(verdict):
        chosen = frame[frame["verdict"] == verdict]
        return "".join(f"; {verdict}: {r['architecture']} at the {r['width']} width in {r['benchmark']} "
                       f"({r[ratio]}, interval {r[summaries.INTERVAL_COLUMN]})" for _, r in chosen.iterrows())

    unresolved = int((frame["verdict"] == claims.NOT_RESOLVED).sum())
    return (f"{what}: {unresolved} of {len(frame)} comparisons (committed runs, widths and architectures) are not "
            "resolved" + cells(summaries.FASTER) + cells(summaries.SLOWER))


plain = summaries.pipeline_comparison()
if len(plain):
    display(pages.markdown_table(plain))
    pages.glue("plain_text", compared_text("The plain project pipeline against the original", plain,
                                          summaries.ratio_column(targets.PLAIN_VARIANT)))
else:
    pages.glue("plain_text", "No committed benchmark run measured both pipelines")

# %% [markdown]
# {glue:md}`plain_text`. What the pipeline itself costs, without a model, is measured by
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
if len(ceiling) and len(cost):
    display(pages.markdown_table(ceiling))
    display(pages.markdown_table(cost))
    ceiling_ratio = summaries.ratio_column(targets.CEILING_VARIANT)
    pages.glue("ceiling_text", compared_text("No input work against the original pipeline", ceiling, ceiling_ratio)
              + ". " + compared_text("The project pipeline against no input work", cost, summaries.ratio_column(
                  targets.PLAIN_VARIANT, targets.CEILING_VARIANT)))
    faster = ceiling[ceiling["verdict"] == summaries.FASTER]
    pages.glue("ceiling_conclusion", (
        "Not even an input pipeline that does no work is measurably faster than the original's in these runs: "
        f"at the {' and '.join(dict.fromkeys(ceiling['width']))} width the step is the model's arithmetic, and a "
        f"plain-pipeline ratio below {speed_goals.get('plain', 1):.1f}x there is the round-to-round spread, not a "
        "cost that another pipeline could remove") if faster.empty else (
        "Doing no input work is measurably faster than the original pipeline for "
        + ", ".join(f"{r['architecture']} at the {r['width']} width ({r[ceiling_ratio]})" for _, r in faster.iterrows())
        + ": there the way batches are fed costs throughput"))
else:
    pages.glue("ceiling_text", "No committed benchmark run measured the `fixed` configuration beside both pipelines")
    pages.glue("ceiling_conclusion", "Nothing is concluded about it yet")

# %% [markdown]
# {glue:md}`ceiling_text`. {glue:md}`ceiling_conclusion`.

# %% [markdown]
# ## Does the faster default change the results?
#
# The first benchmarked machine found XLA compilation (`jit_compile`) faster for training, so the
# `cpu` profile used it then. The `seeds` study ran its first U-Net runs without it
# (`benchmarks/results/cpu-seeds-before-xla.csv`, the `runs.csv` collected then) and again with it
# (`book/data/seeds_six_epochs_runs.csv`, the six-epoch study as collected before the recipe changed).
# Run by run, same seed:

# %% tags=["hide-input"]
before = pages.project_root() / "benchmarks" / "results" / "cpu-seeds-before-xla.csv"
try:
    check = summaries.option_check(before, pages.load_csv("seeds_six_epochs_runs"), "jit_compile")
except FileNotFoundError as missing:
    check = pd.DataFrame()
    display(Markdown(f":::{{note}}\nNothing to compare yet: {missing}\n:::"))
if len(check):
    display(pages.markdown_table(check))
    spread = pd.read_csv(before).query("status == 'done'")["test_iou"].std(ddof=1)
    largest = check["difference"].abs().max()
    verdict = "smaller than" if largest < spread else "not smaller than"
    pages.glue("xla_check", f"{len(check)} pair(s) compared: the largest change of test IoU, {largest:.3f}, is "
                           f"{verdict} the standard deviation over seeds without XLA ({spread:.3f}).")
else:
    pages.glue("xla_check", "No pair of runs with and without XLA has been collected yet, so this is not "
                           "measured.")

# %% [markdown]
# {glue:md}`xla_check` Training times of the earlier runs were taken while other work shared the
# machine, so only the benchmark's ratios above measure speed.
#
# ## Try it yourself
#
# * Run the benchmarks with the scripts in `benchmarks/` and rebuild the book; this page then
#   shows `benchmarks/results/latest.md`.
