"""The study configuration (``studies.yml``): defaults, profiles, studies, and resolved parameters.

Parameters are one flat ``dict`` of scalars.  ``resolve_params`` applies, in
order: ``defaults``, a profile, extra settings (a study's), then overrides; it
rejects unknown keys and casts overrides (strings from the command line) to
the type of the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from mitolib.core.errors import ConfigError
from mitolib.core.locations import CONFIG_ENV, PROFILE_ENV, config_path, profile_setting

DEFAULT_PROFILE = "cpu"  # every command's profile unless --profile or $MITOLIB_PROFILE says otherwise


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges; it is not a key
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def default_profile() -> str:
    """The profile a command uses when none is given: ``$MITOLIB_PROFILE``, else ``cpu`` (one rule for all)."""
    return profile_setting() or DEFAULT_PROFILE


def profile_in_use(given: str | None) -> tuple[str, str]:
    """``(profile, how it was chosen)`` for a command's ``--profile`` value (``None`` when not given)."""
    if given:
        return given, "--profile"
    if profile_setting():
        return default_profile(), f"${PROFILE_ENV}"
    return DEFAULT_PROFILE, "the default; choose another with --profile or $" + PROFILE_ENV


def load_config(path: str | Path | None = None) -> dict:
    """Read and check ``studies.yml``; returns ``{"defaults", "profiles", "studies", "compute_budgets"}``."""
    path = Path(path) if path else config_path()
    if not path.is_file():
        raise ConfigError(f"configuration file {path} not found; run from the project folder or set {CONFIG_ENV}")
    with open(path, encoding="utf-8") as handle:
        try:
            config = yaml.load(handle, Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"{path}:{where}: not valid YAML ({problem}); fix the file (an indentation or a "
                              "missing ':' is the usual cause)") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the file must be a mapping with 'defaults', 'profiles' and 'studies'")
    for section in ("defaults", "profiles", "studies"):
        if not isinstance(config.get(section), dict):
            raise ConfigError(f"{path}: section {section!r} is missing or not a mapping")
    for name, profile in config["profiles"].items():
        if profile is not None and not isinstance(profile, dict):
            raise ConfigError(f"{path}: profile {name!r} must be a mapping of parameters, got {profile!r}")
        _check_keys(profile or {}, config["defaults"], f"{path}: profile {name!r}")
    _check_budgets(config, path)
    _check_targets(config, path)
    _check_speed_targets(config, path)
    return config


def _per_profile(config: dict, path: Path, section: str, form: str):
    """``(where, entry)`` for each entry of the optional per-profile ``section`` (stored back as a mapping, empty
    when absent), after checking that the section is a mapping, every key a known profile and every entry a
    mapping; ``form`` shows the expected entry in the messages."""
    entries = config.get(section) or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: section {section!r} must map a profile to {form}")
    for profile, entry in entries.items():
        where = f"{path}: {section}.{profile}"
        if profile not in config["profiles"]:
            raise ConfigError(f"{where}: unknown profile; choose one of: {', '.join(config['profiles'])}")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: write it as {form}, got {entry!r}")
        yield where, entry
    config[section] = entries


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


TARGET_FRACTIONS = {"object_f1_50": "the mean object F1 at IoU 0.5",
                    "count_error": "the allowed |predicted / true objects - 1|"}


def _check_targets(config: dict, path: Path) -> None:
    """Check the optional ``targets`` section (``{profile: {test_iou: <0..1>, train_minutes: <positive>,
    seeds: <positive whole number>, object_f1_50: <0..1>, count_error: <0..1>}}``)."""
    for where, target in _per_profile(config, path, "targets", "{test_iou: <number between 0 and 1>}"):
        if not 0 < target.get("test_iou", -1) < 1:
            raise ConfigError(f"{where}: write it as {{test_iou: <number between 0 and 1>}}, got {target!r}")
        if target.get("train_minutes") is not None and not _positive(target["train_minutes"]):
            raise ConfigError(f"{where}: 'train_minutes' must be a positive number, got {target['train_minutes']!r}")
        seeds = target.get("seeds")
        if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
            raise ConfigError(f"{where}: 'seeds' (how many seeds the target's mean is over) must be a whole "
                              f"number of at least 1, got {seeds!r}")
        for key, meaning in TARGET_FRACTIONS.items():
            if key in target and not (_positive(target[key]) and target[key] < 1):
                raise ConfigError(f"{where}: {key!r} ({meaning}) must be a number between 0 and 1, got {target[key]!r}")
        unknown = set(target) - {"test_iou", "train_minutes", "seeds", *TARGET_FRACTIONS}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a target takes test_iou, "
                              f"train_minutes, seeds, {', '.join(TARGET_FRACTIONS)}")


SPEED_TARGETS = ("best", "plain")  # the best configuration, and the plain project pipeline


def _check_speed_targets(config: dict, path: Path) -> None:
    """Check the optional ``speed_targets`` section (``{best: <positive>, plain: <positive>}``: training images/s
    against the original pipeline's, as ``python -m benchmarks.run`` measures them)."""
    targets = config.get("speed_targets") or {}
    form = "{best: <ratio>, plain: <ratio>}"
    if not isinstance(targets, dict):
        raise ConfigError(f"{path}: section 'speed_targets' must be a mapping {form}, got {targets!r}")
    unknown = sorted(set(targets) - set(SPEED_TARGETS))
    if unknown:
        raise ConfigError(f"{path}: speed_targets: unknown key(s) {', '.join(unknown)}; write it as {form}")
    for key, value in targets.items():
        if not _positive(value):
            raise ConfigError(f"{path}: speed_targets.{key} must be a positive ratio, got {value!r}")
    config["speed_targets"] = targets


def _check_budgets(config: dict, path: Path) -> None:
    """Check the optional ``compute_budgets`` section (``{profile: {hours: <positive>, machine: <text>}}``)."""
    for where, budget in _per_profile(config, path, "compute_budgets", "{hours: <number>, machine: <text>}"):
        if not _positive(budget.get("hours")):
            raise ConfigError(f"{where}: 'hours' must be a positive number, got {budget.get('hours')!r}")
        if not isinstance(budget.get("machine"), str) or not budget["machine"].strip():
            raise ConfigError(f"{where}: 'machine' must say which machine the hours are on, e.g. 'a 2-core CPU'")


def compute_budget(profile: str, config: Mapping[str, Any] | None = None) -> dict | None:
    """The planned compute of ``profile``'s reference studies (``{"hours", "machine"}``), or ``None``."""
    config = config if config is not None else load_config()
    return (config.get("compute_budgets") or {}).get(profile)


def speed_targets(config: Mapping[str, Any] | None = None) -> dict:
    """The benchmark's speed targets (``{"best"?, "plain"?}``: ratios to the original pipeline), or ``{}``."""
    config = config if config is not None else load_config()
    return dict(config.get("speed_targets") or {})


def target(profile: str, config: Mapping[str, Any] | None = None) -> dict | None:
    """The quality target of ``profile`` (``{"test_iou", "train_minutes"?, "seeds"?, "object_f1_50"?,
    "count_error"?}``), or ``None``."""
    config = config if config is not None else load_config()
    return (config.get("targets") or {}).get(profile)


def _check_keys(values: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(
            f"{where}: unknown parameter(s) {', '.join(unknown)}; valid keys are the 'defaults' of {config_path().name}"
        )


def cast_value(key: str, value: Any, default: Any) -> Any:
    """Cast ``value`` to the type of ``default`` (bool, int, float or str)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"parameter {key!r} expects true or false, got {value!r}")
    try:
        if isinstance(default, int):
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter {key!r} expects a {type(default).__name__}, got {value!r}") from None
    if isinstance(value, bool):  # YAML's true/false for a text setting such as jit_compile: auto | true | false
        return "true" if value else "false"
    return "" if value is None else str(value)


def resolve_params(
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
    config: Mapping | None = None,
) -> dict:
    """Flat parameters: defaults <- profile <- extra (study settings) <- overrides, type-checked."""
    config = config or load_config()
    defaults = config["defaults"]
    params = dict(defaults)
    layers = []
    if profile:
        if profile not in config["profiles"]:
            raise ConfigError(f"unknown profile {profile!r}; choose one of: {', '.join(config['profiles'])}")
        layers.append((config["profiles"][profile] or {}, f"profile {profile!r}"))
    layers += [(extra or {}, "study settings"), (overrides or {}, "overrides")]
    for values, where in layers:
        _check_keys(values, defaults, where)
        for key, value in values.items():
            params[key] = cast_value(key, value, defaults[key])
    from mitolib.core.schema import validate

    try:
        validate(params)
    except ConfigError as error:
        where = f"profile {profile!r}" if profile else "the parameters"
        raise ConfigError(f"{where}: {error}") from None
    params["profile"] = profile or ""
    return params
