"""Studies: the runs a named study of ``studies.yml`` stands for (``plan``), and the record of a plan.

A study has either ``grid`` (the cartesian product of its value lists, in the
order the keys are written, the last key varying fastest), ``runs`` (named
variants, each a mapping of parameters) or ``from_best`` (the ``top`` best runs of
another grid study by a collected column, repeated over its ``seeds``: a
grid's best configurations rerun with more seeds, see :func:`best_of`), and
optionally ``settings`` (applied to
every run before the grid values or the variant) and ``profile_settings``
(``{profile: settings}``, applied after ``settings`` under that profile only, so
a study can train longer under ``cpu`` without slowing its ``smoke`` runs).
Parameters resolve as defaults <- profile <- settings <- profile settings <-
grid point / variant <- overrides.

Run ids (the run folder's name) are derived from parameters, so a re-run finds
its folder:

* grid studies: ``key-value`` for every grid key in the grid's order, joined
  by ``_`` (``architecture-unet_learning_rate-0.001_batch_size-8``);
* ``runs`` studies: the variant's name (``mispaired``);
* overrides that change a parameter add ``+key-value`` in key order
  (``architecture-unet+epochs-5``); an override equal to the value the run
  would have anyway adds nothing, so the same parameters give the same id.

Values are written in a short stable form: ``true``/``false``, integers as
digits, floats as Python's shortest ``repr`` (``0.0005``, ``1e-05``), ``""`` as
``none``, and any character outside ``[A-Za-z0-9._+-]`` as ``-``.  An id longer
than ``ID_MAX_LENGTH`` characters is cut and ends with ``-`` and the first
``ID_HASH_LENGTH`` hex digits of the SHA-1 of the full id.

Run folders are ``<runs root>/<profile>/<study>/<run_id>`` with the runs root
``$MITOLIB_RUNS`` or ``<project root>/runs``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mitolib.core.config import DEFAULT_PROFILE, load_config, resolve_params
from mitolib.core.errors import ConfigError, ResultsMissing
from mitolib.core.locations import RUNS_ENV, results_root, runs_root
from mitolib.core.rundir import RUNS_TABLE
from mitolib.core.identity import collected_runs, params_hash

PAIR_SEP = "_"
KEY_VALUE_SEP = "-"
OVERRIDE_SEP = "+"
EMPTY_VALUE = "none"
ID_MAX_LENGTH = 120
ID_HASH_LENGTH = 8
UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")
VARIANT_PROFILE_KEY = "profile_settings"  # inside a named run: its settings under one profile only
STUDY_KEYS = {"description", "grid", "runs", "from_best", "seeds", "settings", "profile_settings"}
SHAPE_KEYS = ("grid", "runs", "from_best")  # exactly one of them says which runs a study has
FROM_BEST_KEYS = {"study", "top", "by"}


@dataclass(frozen=True)
class Run:
    """One run of a study: its plan index, id, resolved parameters and folder."""

    index: int
    run_id: str
    params: dict
    run_dir: Path
    study: str
    profile: str
    variant: str | None = None
    varying: dict = field(default_factory=dict)


def get_study(name: str, config: Mapping | None = None) -> dict:
    """The study called ``name``, checked; ``ConfigError`` lists the valid names otherwise."""
    config = config or load_config()
    studies = config["studies"]
    if name not in studies:
        raise ConfigError(f"unknown study {name!r}; choose one of: {', '.join(studies)}")
    study = studies[name] or {}
    unknown = sorted(set(study) - STUDY_KEYS)
    if unknown:
        raise ConfigError(f"study {name!r}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(STUDY_KEYS))}")
    if sum(key in study for key in SHAPE_KEYS) != 1:
        raise ConfigError(f"study {name!r} needs exactly one of {', '.join(repr(key) for key in SHAPE_KEYS)}")
    for key in ("grid", "runs", "settings", "profile_settings"):
        if key in study and not isinstance(study[key], dict):
            raise ConfigError(f"study {name!r}: {key!r} must be a mapping")
    for profile, values in (study.get("profile_settings") or {}).items():
        if profile not in config["profiles"]:
            raise ConfigError(f"study {name!r}: profile_settings names unknown profile {profile!r}")
        if not isinstance(values, dict):
            raise ConfigError(f"study {name!r}: profile_settings of {profile!r} must be a mapping")
    if "from_best" in study:
        _check_seeds(name, study)
        _check_from_best(name, study, config)
        return study
    if not study.get("grid") and not study.get("runs"):
        raise ConfigError(f"study {name!r} has no runs")
    for key, values in (study.get("grid") or {}).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"study {name!r}: grid values of {key!r} must be a non-empty list")
    if "seeds" in study:
        if "runs" not in study:
            raise ConfigError(f"study {name!r}: 'seeds' repeats named runs; a grid lists 'seed' among its keys instead")
        _check_seeds(name, study)
        clash = [variant for variant, values in study["runs"].items() if "seed" in (values or {})]
        if clash:
            raise ConfigError(f"study {name!r}: run(s) {', '.join(clash)} set 'seed', which 'seeds' varies")
    return study


def _check_seeds(name: str, study: Mapping) -> None:
    seeds = study.get("seeds")
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds)):
        raise ConfigError(f"study {name!r}: 'seeds' must be a list of distinct integers, got {seeds!r}")


def _check_from_best(name: str, study: Mapping, config: Mapping) -> None:
    """``from_best: {study: S, top: N, by: COLUMN}``: S a grid study without ``seed`` among its keys, N > 0."""
    spec = study["from_best"]
    if not isinstance(spec, dict) or set(spec) != FROM_BEST_KEYS:
        raise ConfigError(f"study {name!r}: 'from_best' must be a mapping with exactly the keys "
                          f"{', '.join(sorted(FROM_BEST_KEYS))}, got {spec!r}")
    source, top = spec["study"], spec["top"]
    if source == name or source not in config["studies"] or "grid" not in (config["studies"][source] or {}):
        raise ConfigError(f"study {name!r}: 'from_best' needs another grid study, got {source!r}; grid studies: "
                          + ", ".join(k for k, v in config["studies"].items() if "grid" in (v or {})))
    if "seed" in config["studies"][source]["grid"]:
        raise ConfigError(f"study {name!r}: the grid of {source!r} varies 'seed', so 'seeds' cannot add seeds to it")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ConfigError(f"study {name!r}: 'from_best' top must be a positive integer, got {top!r}")
    if not isinstance(spec["by"], str) or not spec["by"]:
        raise ConfigError(f"study {name!r}: 'from_best' by must name a column of the collected runs.csv")
    for key in ("settings", "profile_settings"):
        if key in study:
            raise ConfigError(f"study {name!r}: a 'from_best' study trains like {source!r}; set {key!r} there")


def best_of(name: str, profile: str, config: Mapping | None = None) -> list:
    """The runs a ``from_best`` study repeats: the ``top`` runs of its source grid study under ``profile`` with
    the highest collected ``by`` value (ties: the earlier plan index), among the source's current runs.

    Every planned run of the source must be collected as done with its current parameters
    (``results/<profile>/<source>/runs.csv``), so the choice is final; ``ResultsMissing`` says what to run
    otherwise."""
    config = config or load_config()
    spec = get_study(name, config)["from_best"]
    source, top, by = spec["study"], spec["top"], spec["by"]
    source_runs = plan(source, profile, config=config)
    collected = collected_runs(source, profile)
    current = [run for run in source_runs if collected.get(run.run_id) == params_hash(run.params)]
    table_path = results_root() / profile / source / RUNS_TABLE
    if len(current) < len(source_runs):
        raise ResultsMissing(
            f"study {name!r} reruns the {top} best runs of {source!r} by {by}, but {table_path} holds "
            f"{len(current)} of its {len(source_runs)} current runs: run `mitolib study run {source} --profile "
            f"{profile}` and `mitolib study collect {source} --profile {profile}` first")
    table = pd.read_csv(table_path).drop_duplicates("run_id", keep="last").set_index("run_id")
    if by not in table.columns or table.loc[[run.run_id for run in current], by].isna().any():
        raise ConfigError(f"study {name!r}: 'from_best' by {by!r} is not a value of every run in {table_path}")
    ranked = sorted(current, key=lambda run: (-float(table.loc[run.run_id, by]), run.index))
    return ranked[:top]


def _from_best_spec(name: str, study: Mapping, profile: str, config: Mapping) -> dict:
    """A ``from_best`` study as the named-runs study it stands for: one variant per chosen source run (named
    by its run id, with its grid values), the source's settings, this study's seeds."""
    source = config["studies"][study["from_best"]["study"]]
    chosen = best_of(name, profile, config)
    own = sorted({run.params["seed"] for run in chosen} & set(study["seeds"]))
    if own:
        raise ConfigError(f"study {name!r}: seed(s) {', '.join(map(str, own))} already trained the chosen runs of "
                          f"{study['from_best']['study']!r}; list other seeds")
    spec = {"runs": {run.run_id: dict(run.varying) for run in chosen}, "seeds": study["seeds"]}
    for key in ("settings", "profile_settings"):
        if key in source:
            spec[key] = source[key]
    return spec


def format_value(value: Any) -> str:
    """Short, stable, filesystem-safe text for a parameter value (see the module docstring)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif value is None or value == "":
        text = EMPTY_VALUE
    else:
        text = str(value)
    return UNSAFE_CHARS.sub("-", text)


def _pairs(values: Mapping[str, Any], sep: str) -> str:
    return sep.join(f"{key}{KEY_VALUE_SEP}{format_value(value)}" for key, value in values.items())


def _shorten(run_id: str) -> str:
    if len(run_id) <= ID_MAX_LENGTH:
        return run_id
    digest = hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:ID_HASH_LENGTH]
    return f"{run_id[: ID_MAX_LENGTH - ID_HASH_LENGTH - 1]}-{digest}"


def _points(name: str, study: Mapping) -> list[tuple[str | None, dict]]:
    """``(variant, values)`` for every run, in plan order (with ``seeds``: every seed of a variant, then the
    next variant, so a partly run study has whole variants)."""
    if "runs" in study and "seeds" in study:
        return [(variant, {**(values or {}), "seed": seed}) for variant, values in study["runs"].items()
                for seed in study["seeds"]]
    if "runs" in study:
        return [(variant, dict(values or {})) for variant, values in study["runs"].items()]
    grid = study["grid"]
    return [(None, dict(zip(grid, combo))) for combo in itertools.product(*grid.values())]


def plan(
    study: str,
    profile: str = DEFAULT_PROFILE,  # the library default; commands resolve theirs with config.profile_in_use
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping | None = None,
) -> list[Run]:
    """The runs of ``study`` under ``profile`` with command-line ``overrides``, in a stable order."""
    config = config or load_config()
    spec = get_study(study, config)
    if "from_best" in spec:
        spec = _from_best_spec(study, spec, profile, config)
    overrides = dict(overrides or {})
    points = _points(study, spec)
    if "out_dir" in overrides:
        raise ConfigError(f"out_dir is set for each run of a study (under {runs_root()}; see ${RUNS_ENV})")
    varied = set().union(*(values for _, values in points))
    clash = sorted(varied & set(overrides))
    if clash:
        raise ConfigError(f"study {study!r} varies {', '.join(clash)}; an override cannot fix it")
    root = runs_root() / profile / study
    runs, seen = [], {}
    for index, (variant, values) in enumerate(points):
        by_profile = values.pop(VARIANT_PROFILE_KEY, None) or {}
        if not isinstance(by_profile, dict) or not all(isinstance(v, dict) for v in by_profile.values()):
            raise ConfigError(f"study {study!r}, run {variant}: {VARIANT_PROFILE_KEY} must map profiles to settings")
        unknown = sorted(set(by_profile) - set(config["profiles"]))
        if unknown:
            raise ConfigError(f"study {study!r}, run {variant}: {VARIANT_PROFILE_KEY} names unknown profile(s) "
                              f"{', '.join(unknown)}")
        values = {**values, **by_profile.get(profile, {})}
        extra = {**(spec.get("settings") or {}), **(spec.get("profile_settings") or {}).get(profile, {}), **values}
        try:
            base = resolve_params(profile, None, extra=extra, config=config)
            params = resolve_params(profile, overrides, extra=extra, config=config)
        except ConfigError as error:
            raise ConfigError(f"study {study!r}, run {variant or values}: {error}") from None
        if variant is None:
            run_id = _pairs({k: params[k] for k in values}, PAIR_SEP)
        else:
            run_id = variant + (PAIR_SEP + _pairs({"seed": params["seed"]}, PAIR_SEP) if "seeds" in spec else "")
        run_id = UNSAFE_CHARS.sub("-", run_id) or EMPTY_VALUE
        changed = {key: params[key] for key in sorted(overrides) if params[key] != base[key]}
        if changed:
            run_id += OVERRIDE_SEP + _pairs(changed, OVERRIDE_SEP)
        run_id = _shorten(run_id)
        if run_id in seen:
            raise ConfigError(f"study {study!r}: runs {seen[run_id]} and {index} share the id {run_id!r}")
        seen[run_id] = index
        varying = {key: params[key] for key in values} | changed
        runs.append(Run(index, run_id, params, root / run_id, study, profile, variant, varying))
    return runs
