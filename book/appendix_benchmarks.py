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

from mitolib import book, notices, summaries

display(notices.build_notice())
summaries.benchmark_report()

# %% [markdown]
# ## Does the faster default change the results?
#
# The benchmark found XLA compilation (`jit_compile`) faster for training on the CPU, so the `cpu`
# profile uses it. The `seeds` study ran its first U-Net runs without it
# (`benchmarks/results/cpu-seeds-before-xla.csv`, the `runs.csv` collected then) and again with it.
# Run by run, same seed:

# %% tags=["hide-input"]
before = book.project_root() / "benchmarks" / "results" / "cpu-seeds-before-xla.csv"
try:
    seeds = book.load_study("seeds", "cpu")
    check = summaries.option_check(before, seeds.runs, "jit_compile")
except (book.ResultsMissing, FileNotFoundError) as missing:
    check = pd.DataFrame()
    display(Markdown(f":::{{note}}\nNothing to compare yet: {missing}\n:::"))
if len(check):
    display(book.markdown_table(check))
    spread = pd.read_csv(before).query("status == 'done'")["test_iou"].std(ddof=1)
    largest = check["difference"].abs().max()
    verdict = "smaller than" if largest < spread else "not smaller than"
    book.glue("xla_check", f"{len(check)} pair(s) compared: the largest change of test IoU, {largest:.3f}, is "
                           f"{verdict} the standard deviation over seeds without XLA ({spread:.3f}).")
else:
    book.glue("xla_check", "No pair of runs with and without XLA has been collected yet, so this is not "
                           "measured.")

# %% [markdown]
# {glue:md}`xla_check` Training times of the earlier runs were taken while other work shared the
# machine, so only the benchmark's ratios above measure speed.
#
# ## Try it yourself
#
# * Run the benchmarks with the scripts in `benchmarks/` and rebuild the book; this page then
#   shows `benchmarks/results/latest.md`.
