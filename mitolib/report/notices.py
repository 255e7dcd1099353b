"""The box every results page opens with: which study, data and commit its numbers come from, and whether the
study is partial, of an earlier design than ``studies.yml`` plans now, or trained from uncommitted code.

:func:`provenance` gives these facts as a record; :func:`notice` shows them in the shared boxes of
``book/_admonitions.md``, whose words are the book's (this module picks the box and fills its fields).
"""

from __future__ import annotations

from dataclasses import dataclass

from mitolib.report.pages import (StudyResults, _missing, book_profile, collected_studies, fill,
                                  load_study)

MEASURED, SYNTHETIC, FIXTURE = "provenance", "not_the_science", "fixture"  # the three boxes of a study (their names)
SMOKE_PROFILE = "smoke"  # synthetic data for tests and CI: never the science


def data_source(results: StudyResults) -> str:
    """``synthetic`` or ``epfl`` (from the provenance, else the runs' ``data_source`` column)."""
    for key in ("data_source",):
        if results.provenance.get(key):
            return str(results.provenance[key])
        params = results.provenance.get("params") or {}
        if params.get(key):
            return str(params[key])
    if "data_source" in results.runs and results.runs["data_source"].notna().any():
        return ", ".join(sorted(results.runs["data_source"].dropna().astype(str).unique()))
    return "unknown"


def short_commit(commit) -> str:
    """The first 12 hex digits of a commit, keeping a ``+dirty`` mark."""
    commit = str(commit)
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") and len(commit) > 18 else "")


@dataclass(frozen=True)
class Provenance:
    """Where a collected study's numbers come from, and what is partial or old about it."""

    profile: str
    study: str
    kind: str  # MEASURED (EPFL data), SYNTHETIC (not the science) or FIXTURE (generated numbers)
    data: str  # data_source
    runs: int  # rows of runs.csv
    done: int  # completed runs
    commit: str  # short commit of the collection
    collected_at: str
    collected: int  # complete runs, as the collector counted them
    planned: int  # runs the plan had when collected (0: not recorded)
    current: int  # completed runs of the current plan (same run id and parameters)
    current_planned: int  # runs of the recorded plan
    dirty: int  # code versions with uncommitted changes
    versions: int  # code versions the runs recorded

    @property
    def partial(self) -> bool:
        return bool(self.planned) and self.collected < self.planned

    @property
    def earlier(self) -> int:
        """Completed runs of an earlier design (0 without a recorded plan)."""
        return self.done - self.current if self.current_planned and self.current < self.done else 0


def provenance(results: StudyResults) -> Provenance:
    """The :class:`Provenance` record of a collected study."""
    source = data_source(results)
    counts = results.provenance.get("counts") or {}
    current, planned = design_counts(results)
    dirty, versions = uncommitted_code(results)
    if results.provenance.get("fixture"):
        kind = FIXTURE
    elif source != "epfl" or results.profile == SMOKE_PROFILE:
        kind = SYNTHETIC
    else:
        kind = MEASURED
    return Provenance(
        profile=results.profile, study=results.study, kind=kind, data=source, runs=len(results.runs),
        done=len(results.done),
        commit=short_commit(results.provenance.get("git_commit") or results.provenance.get("commit") or "unknown"),
        collected_at=str(results.provenance.get("collected_at") or results.provenance.get("created") or "unknown"),
        collected=int(counts.get("collected", 0)), planned=int(counts.get("planned") or 0), current=current,
        current_planned=planned, dirty=dirty, versions=versions)


def uncommitted_code(results: StudyResults) -> tuple[int, int]:
    """``(code versions marked +dirty, code versions)`` among the commits the collected runs recorded: runs
    trained from a working tree with uncommitted changes."""
    commits = [str(commit) for commit in results.provenance.get("run_git_commits") or []]
    return sum(commit.endswith("+dirty") for commit in commits), len(commits)


def design_counts(results: StudyResults) -> tuple[int, int]:
    """``(collected runs of the current plan, planned runs)``: how much of a study's table is its current
    design (same run id and parameters as the recorded plan, ``plan.csv``); ``(0, 0)`` without a recorded plan."""
    from mitolib.report.verdicts import planned_hashes, split_by_plan

    planned = planned_hashes(results.plan)
    if not planned:
        return 0, 0
    if "params_hash" not in results.done.columns:
        return 0, len(planned)
    current, _ = split_by_plan(results.done, planned)
    return len(current), len(planned)


def _study_box(record: Provenance) -> str:
    states = []
    if record.partial:
        states.append(fill("partial", collected=record.collected, planned=record.planned))
    if record.earlier:
        states.append(fill("earlier_design", earlier=record.earlier, done=record.done,
                           planned=record.current_planned, current=record.current))
    if record.dirty:
        states.append(fill("uncommitted", dirty=record.dirty, versions=record.versions))
    source = fill("source", profile=record.profile, study=record.study, runs=record.runs, commit=record.commit,
                  collected=record.collected_at)
    return fill(record.kind, profile=record.profile, data=record.data, source=source,
                states="".join(" " + state for state in states))


def _studies_box(profile: str) -> str:
    items = []
    for name in collected_studies(profile):
        record = provenance(load_study(name, profile, min_done=0))
        states = ""
        if record.partial:
            states += fill("studies_partial", collected=record.collected, planned=record.planned)
        if record.earlier:
            states += fill("studies_earlier", earlier=record.earlier, done=record.done)
        items.append(fill("studies_item", profile=profile, study=name, done=record.done, data=record.data,
                          commit=record.commit, states=states))
    box = "studies" if profile != SMOKE_PROFILE else "studies_not_the_science"
    return fill(box, profile=profile, items="\n".join(items)) if items else ""


def notice(subject: StudyResults | str | None = None, *, required: bool = True, lesson: bool = False):
    """The box a page opens with, as a Markdown display object (the one notice function of the pages):

    * ``notice(results)``: the study's :func:`provenance`, partial or of an earlier design;
    * ``notice(profile)``: every collected study of the profile; raises :class:`ResultsMissing` when there is
      none, unless ``required`` is false (then nothing is shown);
    * ``notice(profile, lesson=True)``: a page computed from controlled inputs, with the studies it quotes."""
    from IPython.display import Markdown

    if isinstance(subject, StudyResults):
        return Markdown(_study_box(provenance(subject)))
    profile = subject or book_profile()
    listed = _studies_box(profile)
    if lesson:
        return Markdown(fill("lesson") + ("\n\n" + listed if listed else ""))
    if required and not listed:
        raise _missing("seeds", profile, "no collected study")
    return Markdown(listed)
