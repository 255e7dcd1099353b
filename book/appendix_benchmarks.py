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

from mitolib import book

display(book.build_notice())
book.benchmark_report()

# %% [markdown]
# ## Does the faster default change the results?
#
# The benchmark found XLA compilation (`jit_compile`) faster for training on the CPU, so the `cpu`
# profile uses it. The `seeds` study ran its first U-Net runs without it
# (`benchmarks/results/cpu-seeds-before-xla.csv`, the `runs.csv` collected then) and again with it.
# Run by run, same seed:

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown


before = book.project_root() / "benchmarks" / "results" / "cpu-seeds-before-xla.csv"
try:
    seeds = book.load_study("seeds", "cpu")
    check = book.option_check(before, seeds.runs, "jit_compile")
except (book.ResultsMissing, FileNotFoundError) as missing:
    check = pd.DataFrame()
    display(Markdown(f":::{{note}}\nNothing to compare yet: {missing}\n:::"))
if len(check):
    display(book.markdown_table(check))
    spread = pd.read_csv(before).query("status == 'done'")["test_iou"].std(ddof=1)
    largest = check["difference"].abs().max()
    book.glue("xla_pairs", f"{len(check)}")
    book.glue("xla_largest_difference", f"{largest:.3f}")
    book.glue("xla_seed_sd", f"{spread:.3f}")
    book.glue("xla_verdict", "smaller than" if largest < spread else "not smaller than")
else:
    for name in ("xla_pairs", "xla_largest_difference", "xla_seed_sd", "xla_verdict"):
        book.glue(name, "not measured")

# %% [markdown]
# Pairs compared: {glue:md}`xla_pairs`. The largest change of test IoU, {glue:md}`xla_largest_difference`,
# is {glue:md}`xla_verdict` the standard deviation over seeds without XLA ({glue:md}`xla_seed_sd`).
# Training times of the earlier runs were taken while other work shared the machine, so only the
# benchmark's ratios above measure speed.
#
# ## Try it yourself
#
# * Run the benchmarks with the scripts in `benchmarks/` and rebuild the book; this page then
#   shows `benchmarks/results/latest.md`.
