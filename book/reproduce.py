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
# # Reproduce it
#
# Everything in this book comes from named studies in `studies.yml`, run by one command per
# study, collected into `results/`, and drawn by the book without training. This page says how
# to re-run them on a laptop, on a PBS cluster or under Slurm, lists the configuration, and maps
# every figure to the study and runs that produced it.
#
# **What you need:** a clone of the repository, a Python that `pyproject.toml` accepts, and, for real results,
# the EPFL data (`mitolib data fetch`, or a folder of it in `$MITOLIB_DATA`).

# %% tags=["remove-cell"]
import pandas as pd
from IPython.display import display

from mitolib.report import pages, figure_sources, notices, summaries
from mitolib.core.config import compute_budget, load_config

config = load_config()
profile = pages.book_profile()

# %% tags=["remove-input"]
notices.notice(profile)

# %% [markdown]
# ## On a laptop
#
# ```bash
# python3 -m venv .venv && .venv/bin/pip install -e '.[cpu,dev]'
# source .venv/bin/activate
# mitolib data check $MITOLIB_DATA        # the EPFL data, paired and binary (or: mitolib data fetch)
# mitolib study plan seeds --profile cpu  # the runs of a study, with their ids
# mitolib study run seeds --profile cpu   # skips done runs, redoes failed ones
# mitolib study collect seeds --profile cpu
# jupyter-book build book/ -W -n --keep-going   # or: make book
# ```
#
# The `smoke` profile runs every study in seconds per run on synthetic data
# (`--profile smoke`); build the book from it with `MITOLIB_BOOK_PROFILE=smoke`. Results go to
# `$MITOLIB_RESULTS` (default `results/`) and run folders to `$MITOLIB_RUNS` (default `runs/`).
#
# ## On a PBS cluster
#
# Build the environment once on the login node, then submit a study as a job array (one run
# per index) and a collection job that waits for it:
#
# ```bash
# mitolib study submit seeds --profile gpu            # qsub of pbs/pbs_study.sh and pbs/pbs_collect.sh
# mitolib study submit seeds --profile gpu --dry-run  # print the qsub commands instead
# mitolib study status seeds --profile gpu
# ```
#
# The scripts in `pbs/` read the study, profile and overrides from `qsub -v`, skip runs that
# are already done, and use the node's `$TMPDIR` for scratch; `pbs/README.md` covers the
# environment setup, resources and resubmission.
#
# ## Under Slurm
#
# The same scripts run under Slurm through the `qsub` wrapper of `slurm-wlm-torque`:
# `qsub -J 0-<runs-1> -v STUDY=seeds,PROFILE=gpu pbs/pbs_study.sh`. They read the array index from
# `PBS_ARRAY_INDEX`, `PBS_ARRAYID` or `SLURM_ARRAY_TASK_ID`, whichever is set. With
# plain `sbatch`, one array task per run works the same way:
# `sbatch --array=0-<runs-1> --export=ALL,STUDY=seeds,PROFILE=gpu pbs/pbs_study.sh`, then
# `mitolib study collect seeds --profile gpu` when the array has finished.
#
# ## The configuration
#
# Parameters resolve as: `defaults` ← profile ← study settings ← grid point or variant ←
# command-line overrides (`-p key value`). The profiles change these defaults:

# %% tags=["remove-input"]
defaults = config["defaults"]
rows = []
for key in defaults:
    shown = lambda value: f"`{value}`" if value != "" else "none"  # noqa: E731 - an empty value is "none"
    row = {"parameter": f"`{key}`", "default": shown(defaults[key])}
    for name, values in config["profiles"].items():
        values = values or {}
        row[name] = shown(values[key]) if key in values else ""
    if any(row[name] for name in config["profiles"]):
        rows.append(row)
pages.markdown_table(pd.DataFrame(rows))

# %% [markdown]
# and the studies are:

# %% tags=["remove-input"]
rows = []
for name, spec in config["studies"].items():
    best = spec.get("from_best")
    varies = (f"the {best['top']} best runs of `{best['study']}` by `{best['by']}`, seeds "
              + ", ".join(map(str, spec["seeds"])) if best
              else ", ".join(f"`{k}`" for k in (spec.get("grid") or {})) or "named variants")
    settings = {**(spec.get("settings") or {}), **(spec.get("profile_settings") or {}).get(profile, {})}
    recorded = pages.recorded_plan(name, profile)  # plan.csv, recorded from studies.yml (a test keeps it current)
    runs = "–" if recorded is None else len(recorded)
    longer = pages.recorded_plan(name, pages.long_profile(profile)) if recorded is None else None
    if longer is not None:  # a study run under the longer profile only
        runs = f"{len(longer)} (`{pages.long_profile(profile)}`)"
    rows.append({"study": f"`{name}`", "runs": runs, "varies": varies,
                 "settings": ", ".join(f"`{k}: {v}`" for k, v in settings.items()),
                 "description": spec.get("description", "")})
pages.markdown_table(pd.DataFrame(rows))

# %% [markdown]
# ## Which study and runs made each figure
#
# Generated from the figure registry in `mitolib/report/figure_sources.py` (`FIGURES`) and the results
# of this build's profile:

# %% tags=["remove-input"]
pages.markdown_table(figure_sources.figure_sources(profile))

# %% [markdown]
# ## Provenance of the results

# %% tags=["remove-input"]
rows, total_seconds = [], 0.0
for res in pages.budget_studies(profile):
    prov = res.provenance
    seconds = pages.compute_seconds(res)
    total_seconds += seconds.sum()
    rows.append({"study": f"`{res.study}`", "profile": f"`{res.profile}`", "completed runs": len(res.done),
                 "incomplete runs": len(res.failed),
                 "compute (hours)": f"{seconds.sum() / 3600:.2f}",
                 "per run (minutes)": f"{seconds.mean() / 60:.1f}" if len(seconds) else "",
                 "data": notices.data_source(res), "code commit": f"`{notices.short_commit(prov.get('git_commit', 'unknown'))}`",
                 "collected": prov.get("collected_at", "unknown")})
display(pages.markdown_table(pd.DataFrame(rows)))
budget = compute_budget(profile, config) or {}
pages.glue("compute_hours", float(total_seconds / 3600))
pages.glue("compute_runs", int(sum(row["completed runs"] for row in rows)))
pages.glue("budget_hours", float(budget.get("hours", float("nan"))))
pages.glue("budget_share", float(total_seconds / 3600 / budget["hours"]) if budget else float("nan"))

# %% [markdown]
# The studies of this build's profile and of its longer profile (`cpu_long` beside `cpu`) share one
# compute budget. The compute columns add up each completed run's training and test-volume evaluation time
# (`train_seconds` and `eval_seconds` of `runs.csv`): wall-clock time on the machine that ran
# it, including any other work that shared its cores at the time. The profile is sized for about
# {glue:text}`budget_hours:g` hours of a 2-core CPU (`compute_budgets` in `studies.yml`); this build's
# {glue:text}`compute_runs` completed runs took {glue:text}`compute_hours:.1f` hours,
# {glue:text}`budget_share:.0%` of that plan.
#
# Each results folder also holds `provenance.json` (library versions, data fingerprints, the
# commits the runs were made at) and `plan.csv`, the runs `studies.yml` plans for the study; the
# pages tell the current design's runs from earlier ones by it. Every run folder holds its
# `params.json` and its executed `train.ipynb`.
#
# ## Same settings, same numbers
#
# Two runs with every training setting and the seed the same should train identically on the
# same kind of machine, whatever study planned them. The collected runs that share their training
# (they may differ in test-time settings, such as the z-median) are compared epoch by epoch on
# their validation IoU (`mitolib.report.summaries.same_training_pairs`):

# %% tags=["remove-cell"]
pairs = summaries.same_training_pairs(
    {study: pages.load_study(study, profile, min_done=0) for study in pages.collected_studies(profile)})
pages.glue("same_pairs", int(len(pairs)))

# %% [markdown]
# This build holds {glue:text}`same_pairs` such pairs of runs; the table below (empty without
# any) lists each with the largest difference of its validation IoU at any epoch. A difference of
# zero means the training is deterministic on that machine.

# %% tags=["remove-input"]
if len(pairs):
    display(pages.markdown_table(pairs, formats={"epochs": "d", "max_difference": ".2g"}))

# %% [markdown]
# ## Try it yourself
#
# * See what a study would run without running it: `mitolib study plan hyperparameter_optimization --profile cpu`.
# * After changing a study in `studies.yml`, record its new plan beside its results so the pages
#   compare against it: `mitolib study plan seeds --profile cpu --record`.
# * Reproduce one figure end to end on synthetic data in minutes:
#   `mitolib study run seeds --profile smoke && mitolib study collect seeds --profile smoke`,
#   then `MITOLIB_BOOK_PROFILE=smoke jupyter-book build book/`.
