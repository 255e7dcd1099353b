"""Page-specific tables of the book: this book's rows beside the literature, TTA gains, the GPU summary, option
checks, the ablation's variant settings, repeated trainings, machines and the benchmarks report."""

from __future__ import annotations

from dataclasses import dataclass

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mitolib.core.rundir import EVAL_PARAMS, STATUS_DONE
from mitolib.core import claims
from mitolib.report.evaluations import tta_gains
from mitolib.report.pages import StudyResults, arch_label, by_architecture, fill
from mitolib.core.config import load_config
from mitolib.results.headline import protocol_label
from mitolib.core.locations import benchmark_results_dir, project_root
from mitolib.core.tables import markdown_table_source
from mitolib.report.targets import BASELINE_VARIANT, PLAIN_VARIANT, training_configurations


def gpu_summary(results: StudyResults) -> pd.DataFrame:
    """One row per planned run of a GPU study: status, test IoU (also with test-time augmentation where a
    saved model was evaluated again) and Dice, best and last epoch, training time, and the training
    throughput without the first epoch (which includes compilation)."""
    seconds = results.history[results.history["metric"] == "epoch_seconds"].sort_values("epoch")
    with_tta = tta_gains(results).set_index("run_id")["with"]
    rows = []
    for run in by_architecture(results.runs).itertuples():
        steady = seconds[seconds["run_id"] == run.run_id]["value"].iloc[1:]
        done = run.status == STATUS_DONE
        row = {"architecture": arch_label(run.architecture), "status": run.status,
               "test IoU": run.test_iou if done else float("nan")}
        if len(with_tta):
            row["test IoU, TTA"] = with_tta.get(run.run_id, float("nan"))
        row |= {"test Dice": run.test_dice if done else float("nan"),
                "best / last epoch": f"{run.best_epoch:.0f} / {run.epochs_run:.0f}" if done else "",
                "training (s)": f"{run.train_seconds:.0f}" if done else "",
                "steady images/s": (f"{run.samples_per_epoch / steady.median():.0f}"
                                    if done and len(steady) else "")}
        rows.append(row)
    return pd.DataFrame(rows)


def option_check(before: Path, after: pd.DataFrame, option: str) -> pd.DataFrame:
    """Run by run (same architecture and seed), the test IoU and training time before and after a default
    ``option`` changed: ``before`` is a ``runs.csv`` collected with the old setting, ``after`` the runs collected
    with the new one.  Only runs done in both whose ``option`` differs are kept."""
    old = pd.read_csv(before)
    pairs = old[old["status"] == STATUS_DONE].merge(after[after["status"] == STATUS_DONE], on=["architecture", "seed"],
                                               suffixes=("_before", "_after"))
    pairs = pairs[pairs[f"{option}_before"].astype(str) != pairs[f"{option}_after"].astype(str)]
    return pd.DataFrame({
        "architecture": pairs["architecture"], "seed": pairs["seed"],
        f"{option} before": pairs[f"{option}_before"], f"{option} after": pairs[f"{option}_after"],
        "test IoU before": pairs["test_iou_before"], "test IoU after": pairs["test_iou_after"],
        "difference": pairs["test_iou_after"] - pairs["test_iou_before"],
        "training s before": pairs["train_seconds_before"].round().astype(int),
        "training s after": pairs["train_seconds_after"].round().astype(int),
    }).reset_index(drop=True)


MEASUREMENT_ONLY = ("select_by_all_monitors",)  # settings that change what a run measures, not how it trains


def variant_settings(study: str = "bug_ablation") -> pd.DataFrame:
    """``variant, settings``: each named run of a study and what it changes, from ``studies.yml``."""
    runs = load_config()["studies"][study].get("runs") or {}

    def text(over: Mapping) -> str:
        parts = [f"`{k}: {v}`" for k, v in over.items() if k not in ("profile_settings", *MEASUREMENT_ONLY)]
        for profile, values in (over.get("profile_settings") or {}).items():
            parts.append(f"under `{profile}`: " + ", ".join(f"`{k}: {v}`" for k, v in values.items()))
        notes = [f"(`{k}: {over[k]}` measures more, trains the same)" for k in MEASUREMENT_ONLY if k in over]
        return " ".join([", ".join(parts) or "(the corrected recipe)", *notes])

    return pd.DataFrame([{"variant": name, "settings": text(over or {})} for name, over in runs.items()])


# --------------------------------------------------------------------------- benchmarks
def benchmark_report(folder: Path | None = None):
    """``benchmarks/results/latest.md`` (headings demoted one level), else ``latest.json`` as a
    table, else a note that no benchmark has been run; a Markdown display object."""
    from IPython.display import Markdown

    folder = folder or benchmark_results_dir()
    md, js = folder / "latest.md", folder / "latest.json"
    if md.is_file():
        lines = md.read_text(encoding="utf-8").splitlines()
        return Markdown("\n".join("#" + line if line.startswith("#") else line for line in lines))
    if js.is_file():
        data = json.loads(js.read_text(encoding="utf-8"))
        records = data.get("results", data) if isinstance(data, dict) else data
        frame = pd.json_normalize(records if isinstance(records, list) else [records])
        return Markdown(f"From `{js.relative_to(project_root()) if js.is_relative_to(project_root()) else js}`:"
                        f"\n\n{markdown_table_source(frame, floatfmt='.4g')}")
    return Markdown(fill("not_drawn", what="The benchmark report", reason="`python -m benchmarks.run` writes it."))


RAW_STEP = {"z_median": 1, "threshold_source": "fixed"}  # the raw prediction of postprocessing.csv


def own_rows(done: pd.DataFrame, study: str, profile: str, postprocessing: pd.DataFrame | None = None) -> pd.DataFrame:
    """This book's runs as rows of the published-figures table (``label, method, dataset, metric, value,
    protocol, source``): per architecture, the test foreground IoU as mean ± sd over seeds, with the protocol
    read from the runs' parameters (resolution, test-time steps, threshold rule); with the study's
    ``postprocessing`` table, a second row per architecture scores the raw prediction (no z-median, threshold
    0.5), like for like with published figures that use no post-processing."""
    raw = pd.DataFrame()
    if postprocessing is not None and len(postprocessing):
        raw = postprocessing[(postprocessing["z_median"] == RAW_STEP["z_median"])
                             & (postprocessing["threshold_source"] == RAW_STEP["threshold_source"])]
    rows = []
    for arch, part in by_architecture(done).groupby("architecture", sort=False):

        def values(column: str, form=str) -> str:
            return "/".join(sorted({form(v) for v in part[column]})) if column in part else "?"

        rows.append({
            "label": f"this book: {arch_label(arch)} ({len(part)} seed{'' if len(part) == 1 else 's'})",
            "method": f"2D {arch_label(arch)}, base {values('base_filters', lambda v: f'{int(v)}')} filters, "
                      f"trained at scale {values('scale', lambda v: f'{float(v):g}')}",
            "dataset": "EPFL (Lucchi) test volume, 165x768x1024",
            "metric": "foreground IoU",
            "value": claims.summarize(part["test_iou"]).text(),
            "protocol": f"foreground IoU over the whole test volume at full resolution, {protocol_label(part)}; "
                        "mean ± sd over seeds",
            "source": f"results/{profile}/{study}/runs.csv"})
        unprocessed = raw[raw["run_id"].isin(part["run_id"])] if len(raw) else raw
        if len(unprocessed):
            rows.append({**rows[-1], "label": rows[-1]["label"] + ", raw",
                         "value": claims.summarize(unprocessed["test_iou"]).text(),
                         "protocol": "foreground IoU over the whole test volume at full resolution, threshold 0.5, "
                                     "no post-processing; mean ± sd over seeds",
                         "source": f"results/{profile}/{study}/postprocessing.csv"})
    return pd.DataFrame(rows, columns=["label", "method", "dataset", "metric", "value", "protocol", "source"])


CONFIDENCE_TEXT = f"{claims.CONFIDENCE:.0%}"  # the claims rule's confidence, as the pages write it
INTERVAL_COLUMN = f"{CONFIDENCE_TEXT} interval"  # of pipeline_comparison
FASTER, SLOWER = "faster", "slower"  # pipeline_comparison's verdicts where the interval excludes a ratio of 1
NOT_MEASURED = "– (no option measured)"  # a benchmark run of the original and the plain project pipeline only


def committed_benchmark_runs(folder: Path | None = None):
    """``(path, results)`` of every committed benchmark run in ``folder`` (default ``benchmarks/results``), in
    name order: each ``*.json`` but ``latest.json``, which repeats the newest."""
    folder = folder or benchmark_results_dir()
    for path in sorted(folder.glob("*.json")):
        if path.name != "latest.json":
            yield path, json.loads(path.read_text(encoding="utf-8"))


def benchmark_machines(folder: Path | None = None) -> pd.DataFrame:
    """One row per machine and width of the committed benchmark runs (``benchmarks/results/*.json`` but
    ``latest.json``): the machine (CPU flags, bfloat16 unit), the plain project pipeline's and the fastest
    configuration's images/s ratio against the original pipeline (median over architectures of the per-
    architecture medians, and the lowest architecture's), and the fastest configuration's % of the peak of
    its dtype; newest run first."""
    rows = []
    for path, data in committed_benchmark_runs(folder):
        table = pd.DataFrame(data.get("training_summary") or [])
        if table.empty or "speed_ratio_median" not in table.columns:
            continue
        machine = data.get("machine") or {}
        flags = ", ".join(machine.get("cpu_flags") or []) or "–"
        for width, part in training_configurations(table).groupby("width", sort=False):
            plain = part[part["variant"] == PLAIN_VARIANT]
            per_arch = part.loc[part.groupby("architecture")["speed_ratio_median"].idxmax()]
            only_plain = (part["variant"] == PLAIN_VARIANT).all()  # a run of the two pipelines alone, no option
            best_variant = NOT_MEASURED if only_plain else per_arch["variant"].mode().iloc[0]
            rows.append({
                "benchmark": f"`{path.name}`", "created": str(data.get("created", ""))[:10],
                "machine": f"{machine.get('cpu_model', '?')}, {machine.get('usable_cores', '?')} cores ({flags}; "
                           f"bfloat16 unit: {'yes' if machine.get('cpu_bf16') else 'no'})",
                "width": width,
                "project / original": f"{plain['speed_ratio_median'].median():.2f}x (lowest "
                                      f"{plain['speed_ratio_median'].min():.2f}x)" if len(plain) else "–",
                "fastest configuration": best_variant,
                "fastest / original": NOT_MEASURED if only_plain else
                f"{per_arch['speed_ratio_median'].median():.2f}x (lowest {per_arch['speed_ratio_median'].min():.2f}x)",
                "% of peak (fastest)": NOT_MEASURED if only_plain else f"{per_arch['percent_of_peak'].median():.0f}"})
    frame = pd.DataFrame(rows)
    return frame.sort_values("created", ascending=False, kind="stable").reset_index(drop=True) if len(frame) else frame


def ratio_column(variant: str, reference: str = BASELINE_VARIANT) -> str:
    """The name of :func:`pipeline_comparison`'s ratio column: ``"project / original"``, ``"fixed / original"``,
    ``"project / fixed"`` (the original pipeline is the benchmark's ``baseline``)."""
    def name(key):
        return "original" if key == BASELINE_VARIANT else key

    return f"{name(variant)} / {name(reference)}"


def pipeline_comparison(folder: Path | None = None, variant: str = PLAIN_VARIANT,
                        reference: str = BASELINE_VARIANT) -> pd.DataFrame:
    """One benchmark configuration against another in every committed benchmark run that measured both
    (``benchmarks/results/*.json`` but ``latest.json``), by the claims rule with the benchmark's rounds as the
    pairs: per run, width and architecture, the rounds, the geometric mean of the rounds' images/s ratios
    (``variant / reference``, column :func:`ratio_column`) and its interval at :data:`claims.CONFIDENCE`
    (:data:`INTERVAL_COLUMN`: the paired difference of log images/s, exponentiated), and whether the
    interval excludes a ratio of 1 (:data:`FASTER`/:data:`SLOWER`) or not (:data:`claims.NOT_RESOLVED`).  By default the
    plain project pipeline against the original; ``variant=targets.CEILING_VARIANT`` gives the ceiling of any input
    pipeline, and ``reference=targets.CEILING_VARIANT`` what the project pipeline's input work costs."""
    rows, pair = [], {variant, reference}
    for path, data in committed_benchmark_runs(folder):
        training = pd.DataFrame(data.get("training") or [])
        if training.empty or "images_per_second" not in training.columns:
            continue
        training = training[training["variant"].isin(pair)
                            & (pd.to_numeric(training["images_per_second"], errors="coerce") > 0)]
        for (width, architecture), part in training.groupby(["width", "architecture"], sort=False):
            if set(part["variant"]) != pair:
                continue
            part = part.assign(log_speed=np.log(part["images_per_second"].astype(float)))
            compared = claims.compare(part, "log_speed", "variant", reference=reference, pair="round",
                                      higher=FASTER, lower=SLOWER)
            row = compared[compared["group"] == variant]
            if row.empty or not row["pairs"].iloc[0]:
                continue
            row = row.iloc[0]
            interval = (f"{np.exp(row['low']):.2f}x–{np.exp(row['high']):.2f}x" if row["pairs"] >= 2 else "–")
            rows.append({"benchmark": f"`{path.name}`", "width": width, "architecture": arch_label(architecture),
                         "rounds": int(row["pairs"]),
                         ratio_column(variant, reference): f"{np.exp(row['difference']):.2f}x",
                         INTERVAL_COLUMN: interval, "verdict": row["verdict"]})
    return pd.DataFrame(rows)


TEST_TIME_ONLY = (*EVAL_PARAMS, "tune_threshold", "save_predictions", *MEASUREMENT_ONLY)  # not how a run trains
CHECKED_METRIC, CHECKED_SPLIT = "iou", "val"  # the curve compared between two trainings


def architecture_pairs(done: pd.DataFrame, value: str = "test_iou") -> pd.DataFrame:
    """Each architecture of ``done`` against the next lower mean of ``value``, paired by seed: the columns of
    :func:`claims.compare` and ``same_machine`` (both architectures' runs trained on one and the same kind of
    machine, the ``device`` of ``runs.csv``), highest mean first."""
    ranked = done.groupby("architecture")[value].mean().sort_values(ascending=False).index
    pairs = claims.compare(done.assign(order=done["architecture"].map({a: i for i, a in enumerate(ranked)}))
                           .sort_values(["order", "seed"]), value, "architecture")
    pairs = pairs[pairs["reference"].notna()].reset_index(drop=True)
    devices = (done.groupby("architecture")["device"].agg(lambda d: frozenset(d.astype(str)))
               if "device" in done else None)
    return pairs.assign(same_machine=[devices is not None and devices[g] == devices[r] and len(devices[g]) == 1
                                      for g, r in zip(pairs["group"], pairs["reference"])])


@dataclass(frozen=True)
class Machines:
    """On which machines (the ``device`` of ``runs.csv``) the runs of a comparison trained: how many kinds, which,
    and how many of its pairs (the runs sharing a ``pair`` value) trained all on one machine."""

    kinds: int  # distinct devices (0 where none is recorded)
    pairs: int
    pairs_on_one_machine: int
    devices: str  # the distinct devices, sorted, joined with " / "

    @property
    def one_machine(self) -> bool:
        return self.kinds <= 1


def machines(done: pd.DataFrame, pair: str = "seed", side: str | None = None) -> Machines:
    """The :class:`Machines` record of the completed runs ``done`` of a comparison paired on ``pair``. With
    ``side`` (the column naming the sides compared), only the pairs holding a run of every side count: a seed
    with one side only is no pair, and its runs are left out."""
    if side is not None and len(done):
        done = done[done.groupby(pair)[side].transform("nunique") == done[side].nunique()]
    if "device" not in done.columns or done["device"].isna().all():
        return Machines(0, done[pair].nunique() if pair in done else 0, 0, "")
    devices = sorted(done["device"].dropna().astype(str).unique())
    per_pair = done.groupby(pair)["device"].nunique() if pair in done.columns else pd.Series(dtype=int)
    return Machines(len(devices), int(len(per_pair)), int((per_pair == 1).sum()), " / ".join(devices))


def same_training_pairs(studies: Mapping[str, StudyResults]) -> pd.DataFrame:
    """Completed runs of different studies that share every training setting and the seed (they may differ in
    test-time settings), with how far apart their validation IoU curves are: ``study_a, run_a, study_b, run_b,
    epochs, max_difference`` (largest absolute difference over the epochs both have). Empty without such
    pairs. The device a run reports (``device`` of ``runs.csv``) counts as a setting, so a pair trained on one
    kind of machine; training is deterministic there when ``max_difference`` is 0."""
    defaults = load_config()["defaults"]
    training = [key for key in defaults if key not in TEST_TIME_ONLY and key != "out_dir"] + ["device"]
    groups: dict[tuple, list[tuple[str, str]]] = {}
    for name, results in studies.items():
        done = results.done
        if done.empty or not set(training) <= set(done.columns):
            continue
        for _, run in done.iterrows():  # lower case: pandas reads a text "false" as a bool in some tables
            groups.setdefault(tuple(str(run[key]).lower() for key in training), []).append((name, run["run_id"]))
    rows = []
    for members in groups.values():
        for i, (study_a, run_a) in enumerate(members):
            for study_b, run_b in members[i + 1:]:
                if study_a == study_b:
                    continue
                both = pd.concat([_curve(studies[study_a].history, run_a).rename("a"),
                                  _curve(studies[study_b].history, run_b).rename("b")], axis=1, join="inner")
                rows.append({"study_a": study_a, "run_a": run_a, "study_b": study_b, "run_b": run_b,
                             "epochs": len(both), "max_difference": float((both["a"] - both["b"]).abs().max())
                             if len(both) else float("nan")})
    return pd.DataFrame(rows, columns=["study_a", "run_a", "study_b", "run_b", "epochs", "max_difference"])


def _curve(history: pd.DataFrame, run_id: str) -> pd.Series:
    part = history[(history["run_id"] == run_id) & (history["metric"] == CHECKED_METRIC)
                   & (history["split"] == CHECKED_SPLIT)]
    return part.set_index("epoch")["value"].astype(float)


FLOOR_TOLERANCE = 1e-3  # relative: a float32 learning rate within this of the floor has reached it


def floor_epochs(done: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Per run of ``done`` (index ``run_id``): the first epoch whose learning rate (in the long ``history`` of
    ``runs``) had reached the run's ``min_learning_rate``, the floor of its schedule; NaN where it never did.
    Every epoch after it trained at the floor, so a run whose best epoch comes before it was not held back by
    its budget."""
    rates = history[history["metric"] == "learning_rate"]
    out = {}
    for run in done.itertuples():
        curve = rates[rates["run_id"] == run.run_id].sort_values("epoch")
        at_floor = curve["value"].astype(float) <= float(run.min_learning_rate) * (1 + FLOOR_TOLERANCE)
        out[run.run_id] = float(curve.loc[at_floor, "epoch"].iloc[0]) if at_floor.any() else float("nan")
    return pd.Series(out, name="floor_epoch", dtype=float)
