"""The box every results page opens with: which study, data and commit its numbers come from, and whether the
study is partial or of an earlier design than ``studies.yml`` plans now."""

from __future__ import annotations

from mitolib.report.pages import StudyResults, book_profile, collected_studies, load_study, _missing

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


def notice_text(results: StudyResults) -> str:
    """The MyST admonition every results page opens with, generated from the provenance."""
    source = data_source(results)
    commit = results.provenance.get("git_commit") or results.provenance.get("commit") or "unknown"
    when = results.provenance.get("collected_at") or results.provenance.get("created") or "unknown"
    where = (f"`results/{results.profile}/{results.study}` ({len(results.runs)} runs, "
             f"code at commit `{short_commit(commit)}`, collected {when})")
    counts = results.provenance.get("counts") or {}
    if counts.get("planned") and counts.get("collected", 0) < counts["planned"]:
        where += (f". **Partial:** {counts.get('collected', 0)} of the {counts['planned']} planned runs are "
                  "complete; the others count in no number or figure of this page")
    current, planned = design_counts(results)
    if planned and current < len(results.done):
        where += (f". **Earlier design:** {len(results.done) - current} of these {len(results.done)} runs were made "
                  f"with settings that `studies.yml` has changed since (its plan has {planned} runs, {current} of "
                  "them collected); their numbers describe the earlier recipe, and `make reference` runs the "
                  "current one")
    dirty, versions = uncommitted_code(results)
    if dirty:
        where += (f". **Uncommitted code:** {dirty} of the {versions} code versions these runs were trained with "
                  "had uncommitted changes (`+dirty`), so their commit does not fully say what ran")
    if results.provenance.get("fixture"):
        return (":::{danger} Test fixture\nThese numbers are generated test fixtures, not measurements: "
                f"they only exercise the book's code. Source: {where}.\n:::")
    if source != "epfl" or results.profile == "smoke":
        return (f":::{{warning}} Not the science\nThese results come from the {results.profile} profile "
                f"on {source} data; they demonstrate the pipeline, not the science. Source: {where}.\n:::")
    return f":::{{note}} Provenance\nMeasured with the {results.profile} profile on the EPFL data. Source: {where}.\n:::"


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


def studies_notice_text(profile: str | None = None) -> str:
    """One notice naming every collected study of ``profile`` (a page that reads several): for each, its runs,
    the data, the collection commit and whether it is partial or of an earlier design."""
    profile = profile or book_profile()
    lines = []
    for name in collected_studies(profile):
        results = load_study(name, profile, min_done=0)
        counts = results.provenance.get("counts") or {}
        current, planned = design_counts(results)
        state = []
        if counts.get("planned") and counts.get("collected", 0) < counts["planned"]:
            state.append(f"partial, {counts.get('collected', 0)} of {counts['planned']} planned")
        if planned and current < len(results.done):
            state.append(f"{len(results.done) - current} of {len(results.done)} runs of an earlier design")
        lines.append(f"* `results/{profile}/{name}`: {len(results.done)} runs on {data_source(results)} data, code at "
                     f"`{short_commit(results.provenance.get('git_commit'))}`" + (f" ({'; '.join(state)})" if state else ""))
    kind = "note" if profile != "smoke" else "warning"
    return (f":::{{{kind}}} Provenance\nThis page reads the collected studies of the `{profile}` profile:\n\n"
            + "\n".join(lines) + "\n:::") if lines else ""


LESSON_TEXT = (":::{note} Computed live\nEverything on this page is computed from controlled inputs when the book "
               "is built, except the paragraph that quotes the real runs, which reads the collected studies listed "
               "below (and the EPFL volumes when this build has them).\n:::")


def notice(subject: StudyResults | str | None = None, *, required: bool = True, lesson: bool = False):
    """The box a page opens with, as a Markdown display object (the one notice function of the pages):

    * ``notice(results)``: the study's provenance, partial or of an earlier design (:func:`notice_text`);
    * ``notice(profile)``: every collected study of the profile (:func:`studies_notice_text`); raises
      :class:`ResultsMissing` when there is none, unless ``required`` is false (then nothing is shown);
    * ``notice(profile, lesson=True)``: a page computed from controlled inputs, with the studies it quotes."""
    from IPython.display import Markdown

    if isinstance(subject, StudyResults):
        return Markdown(notice_text(subject))
    profile = subject or book_profile()
    listed = studies_notice_text(profile)
    if lesson:
        return Markdown(LESSON_TEXT + ("\n\n" + listed if listed else ""))
    if required and not listed:
        raise _missing("seeds", profile, "no collected study")
    return Markdown(listed)
