"""A lever: one setting changed against the completed runs of another study, paired by seed.

:func:`lever_against` pairs the runs of a lever with the reference runs of the same architecture and seeds,
names every setting and recorded numeric in which the two differ (:func:`setting_differences`), so a page can
say what else changed besides the lever, and judges the paired difference by the claims rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from mitolib.report import verdicts
from mitolib.core.config import load_config
from mitolib.core.numerics import UNRECORDED_BATCH_NORM_KERNEL
from mitolib.results.collect import OPTIONAL_METRIC_FIELDS

RECORDED_NUMERICS = (*(f for f in OPTIONAL_METRIC_FIELDS if f.startswith("resolved_")), "device")  # per run
NOT_RECORDED = "not recorded"
UNRECORDED_MEANING = {"resolved_batch_norm_kernel": UNRECORDED_BATCH_NORM_KERNEL}  # what a run without it used


def _setting_value(value) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.lower() if text in ("True", "False") else text  # pandas reads a text "false" as a bool


def _setting_values(runs: pd.DataFrame, key: str, recorded: bool) -> list[str]:
    column = runs[key] if key in runs.columns else [float("nan")] * len(runs)
    missing = (f"{UNRECORDED_MEANING[key]} ({NOT_RECORDED})" if key in UNRECORDED_MEANING else NOT_RECORDED) \
        if recorded else ""  # an empty setting (mixed_precision "") reads back as NaN
    return sorted({missing if pd.isna(value) else _setting_value(value) for value in column})


def setting_differences(reference: pd.DataFrame, lever: pd.DataFrame, pair: str = "seed") -> dict[str, tuple]:
    """What the runs ``lever`` change against the runs ``reference`` (two sets of completed runs, paired on
    ``pair``): ``{key: (reference value, lever value)}`` over every setting of ``studies.yml`` (``defaults``, but
    ``out_dir`` and ``pair``) and the numerics each run recorded (:data:`RECORDED_NUMERICS`; a run that records
    none reads :data:`NOT_RECORDED`, with what it used where that is known). Raises ``ValueError`` where a
    setting takes more than one value within one set: a lever is measured against one recipe. Recorded numerics
    that vary within a set (runs on two machines) are joined with `` / ``."""
    keys = [key for key in load_config()["defaults"] if key not in ("out_dir", pair)]
    out = {}
    for key, recorded in [(key, False) for key in keys] + [(key, True) for key in RECORDED_NUMERICS]:
        sides = []
        for name, runs in (("reference", reference), ("lever", lever)):
            values = _setting_values(runs, key, recorded)
            if len(values) > 1 and not recorded:
                raise ValueError(f"the {name} runs take more than one value of {key} ({', '.join(values)}): a "
                                 f"lever is measured against one recipe, so compare sets whose runs differ only in "
                                 f"{pair}")
            sides.append(" / ".join(values))
        if sides[0] != sides[1]:
            out[key] = tuple(sides)
    return out


def differences_table(changed: Mapping[str, tuple]) -> pd.DataFrame:
    """:func:`setting_differences` as a table: ``setting``, ``reference``, ``lever`` (an empty value as ``–``)."""
    return pd.DataFrame([{"setting": f"`{key}`", "reference": before or "–", "lever": after or "–"}
                         for key, (before, after) in changed.items()], columns=["setting", "reference", "lever"])


LEVER_VALUES = ("test_iou", "best_val_iou")  # what a lever is judged on: the test volume, and validation


@dataclass(frozen=True)
class Lever:
    """One setting changed against the runs of another study (:func:`lever_against`)."""

    key: str  # the setting the lever changes
    reference: pd.DataFrame  # the reference runs paired with the lever's (same architecture and seeds)
    lever: pd.DataFrame  # the lever's completed runs
    changed: dict  # :func:`setting_differences` of the two
    effects: dict  # value -> the row of :func:`mitolib.report.verdicts.effects_table` (against the reference)

    @property
    def names(self) -> tuple[str, str]:
        """The reference's and the lever's value of ``key`` (``plateau``, ``cosine``)."""
        return self.changed[self.key]

    @property
    def both(self) -> pd.DataFrame:
        """The two sets of runs, with ``key``'s value as the column ``group``."""
        return _both(self.reference, self.lever, self.key)


def _both(reference: pd.DataFrame, lever: pd.DataFrame, key: str) -> pd.DataFrame:
    return pd.concat([reference, lever]).assign(group=lambda t: t[key].map(_setting_value))


def lever_against(reference: pd.DataFrame, lever: pd.DataFrame, key: str, pair: str = "seed") -> Lever:
    """The completed runs ``lever``, which change the setting ``key``, against the completed runs of the same
    architecture and ``pair`` values in ``reference`` (typically another study's): what else differs
    (:func:`setting_differences`) and the paired difference in each of :data:`LEVER_VALUES`. Raises
    ``ValueError`` where the two do not differ in ``key``."""
    reference = reference[reference["architecture"].isin(lever["architecture"]) & reference[pair].isin(lever[pair])]
    changed = setting_differences(reference, lever, pair)
    if key not in changed:
        raise ValueError(f"the lever runs do not change {key} against the reference runs; they change "
                         f"{', '.join(changed) or 'nothing'}")
    both = _both(reference, lever, key)
    effects = {value: verdicts.effects_table(both, value, changed[key][0], group="group", pair=pair).iloc[0]
               for value in LEVER_VALUES}
    return Lever(key, reference, lever, changed, effects)
