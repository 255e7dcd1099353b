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
from IPython.display import display

from mitolib import book

display(book.build_notice())
book.benchmark_report()

# %% [markdown]
# ## Try it yourself
#
# * Run the benchmarks with the scripts in `benchmarks/` and rebuild the book; this page then
#   shows `benchmarks/results/latest.md`.
