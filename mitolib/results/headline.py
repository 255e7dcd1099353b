"""The README's headline tables, generated from collected results (never typed).

``update_readme(path, profile, study=...)`` replaces the text between the study's
markers in the README (``START`` and ``END`` for the ``seeds`` study; see
:func:`markers`) with a table of that study: test-volume foreground IoU and Dice
per architecture, mean ± standard deviation over seeds.  The studies with a
headline are ``STUDIES``: ``seeds`` (the profile's architectures) and
``long_training`` (the same recipe trained longer, under the ``cpu_long`` profile).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mitolib.core.claims import summarize
from mitolib.core.locations import results_root
from mitolib.core.rundir import PROVENANCE, RUNS_TABLE, SLICES_TABLE, STATUS_DONE
from mitolib.core.schema import ARCHITECTURES
from mitolib.core.tables import markdown_table_source

START = "<!-- headline:start -->"
END = "<!-- headline:end -->"
STUDY = "seeds"
STUDIES = (STUDY, "long_training")
DIGITS = 3  # scores
MINUTE_DIGITS = 1  # training time


def _mean_sd(values: pd.Series, digits: int = DIGITS) -> str:
    summary = summarize(values)
    return summary.text(digits) if summary.n else "–"


def protocol_label(runs: pd.DataFrame) -> str:
    """The test-time protocol of ``runs`` as a table label, from their parameters: the threshold rule, then the
    test-time steps (``8-fold TTA``, a z-median) or ``no post-processing``; settings that differ between
    runs are joined with ``/``."""
    def values(column: str, form=str) -> set:
        return {form(v) for v in runs[column].dropna()} if column in runs else set()

    tuned = values("tune_threshold", lambda v: str(v).lower() == "true")
    if tuned == {True}:
        threshold = "threshold chosen on the validation slices"
    else:
        threshold = "threshold " + "/".join(sorted(values("threshold", lambda v: f"{float(v):g}")) or {"0.5"})
    steps = []
    if values("tta", lambda v: str(v).lower() == "true") == {True}:
        steps.append("8-fold TTA")
    sizes = sorted(values("z_median", lambda v: int(float(v))) - {0, 1})
    if sizes:
        steps.append(f"median over {'/'.join(map(str, sizes))} slices of the probabilities")
    return threshold + (", " + ", ".join(steps) if steps else ", no post-processing")


def markers(study: str = STUDY) -> tuple[str, str]:
    """The README markers around ``study``'s headline block: ``START``/``END`` for ``seeds``,
    ``<!-- headline:STUDY:start -->``/``<!-- headline:STUDY:end -->`` for the other ``STUDIES``."""
    if study not in STUDIES:
        raise ValueError(f"no headline table for the study {study!r}; the studies with one: {', '.join(STUDIES)}")
    return (START, END) if study == STUDY else (f"<!-- headline:{study}:start -->", f"<!-- headline:{study}:end -->")


def _done_runs(profile: str, root: Path, study: str) -> pd.DataFrame:
    runs = pd.read_csv(root / profile / study / RUNS_TABLE)
    return runs[runs["status"] == STATUS_DONE]


def headline_table(profile: str, root: Path | None = None, study: str = STUDY,
                   runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per architecture of ``study``'s complete runs under ``profile`` (``runs``: those runs, when the
    caller has read them already)."""
    runs = _done_runs(profile, root or results_root(), study) if runs is None else runs
    rows = []
    for architecture in [a for a in ARCHITECTURES if a in set(runs["architecture"])]:
        part = runs[runs["architecture"] == architecture]
        rows.append({"architecture": architecture, "seeds": len(part),
                     "test IoU": _mean_sd(part["test_iou"]), "test Dice": _mean_sd(part["test_dice"]),
                     "best validation IoU": _mean_sd(part["best_val_iou"]),
                     "training minutes": _mean_sd(part["train_seconds"] / 60, MINUTE_DIGITS)})
    return pd.DataFrame(rows)


def render(profile: str, root: Path | None = None, study: str = STUDY) -> str:
    """The Markdown block (table and source line) of ``study`` under ``profile``."""
    root = root or results_root()
    runs = _done_runs(profile, root, study)
    table = headline_table(profile, root, study, runs)
    provenance = json.loads((root / profile / study / PROVENANCE).read_text(encoding="utf-8"))
    rows = markdown_table_source(table) + "\n"
    commit = str(provenance.get("git_commit", "unknown"))[:12]
    counts = provenance.get("counts", {})
    complete = ""
    if counts and counts.get("collected") != counts.get("planned"):
        complete = f"**Partial: {counts.get('collected')} of {counts.get('planned')} planned runs collected so far.** "
    volume = "the whole test volume"
    slices_file = root / profile / study / SLICES_TABLE
    if slices_file.is_file():
        counts_per_run = set(pd.read_csv(slices_file).groupby("run_id").size())
        volume = f"the whole {counts_per_run.pop()}-slice test volume" if len(counts_per_run) == 1 else volume
    source = (f"\n{complete}Generated by `mitolib study collect {study} --profile {profile} --readme README.md` from "
              f"`results/{profile}/{study}/runs.csv` (collected at commit `{commit}`); mean ± standard "
              f"deviation over seeds; foreground IoU and Dice over {volume} at full resolution, "
              f"{protocol_label(runs)}.\n")
    return rows + source


def update_readme(path: str | Path, profile: str, root: Path | None = None, study: str = STUDY) -> bool:
    """Replace ``study``'s marked block of ``path``; returns False (and changes nothing) without its markers."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = markers(study)
    if start not in text or end not in text:
        return False
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    new = f"{before}{start}\n{render(profile, root, study)}{end}{after}"
    if new != text:
        from mitolib.core.rundir import atomic_write_str

        atomic_write_str(path, new)
    return True
