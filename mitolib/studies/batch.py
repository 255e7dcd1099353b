"""Submitting a study to a batch system: a PBS Pro job array and a dependent collection job (``qsub -J``,
``-W depend=afterany:``), or the same scripts through native Slurm (``sbatch --array``, the GPU as ``--gres``)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, Mapping

from mitolib.core.errors import SchedulerError
from mitolib.core.locations import LOGS_DIR, batch_environment, project_root

STUDY_SCRIPT = "pbs/pbs_study.sh"
COLLECT_SCRIPT = "pbs/pbs_collect.sh"


def qsub_variables(study: str, profile: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The ``qsub -v`` list: STUDY, PROFILE, OVERRIDES (``key=value`` words) and the MITOLIB_* settings set here."""
    values = {"STUDY": study, "PROFILE": profile}
    if overrides:
        values["OVERRIDES"] = " ".join(f"{key}={value}" for key, value in overrides.items())
    values.update(batch_environment())
    for name, value in values.items():
        if any(char in value for char in ",'\"") or (name == "OVERRIDES" and any(" " in str(v) for v in overrides.values())):
            raise SchedulerError(f"{name}={value!r} cannot travel through qsub -v (no commas, quotes, or spaces in override values)")
    return ",".join(f"{name}={value}" for name, value in values.items())


def qsub_commands(study: str, profile: str, n_runs: int, overrides=None, qsub_args: str = "") -> tuple[list[str], list[str]]:
    """The array job's and the collection job's ``qsub`` argument lists; the latter holds ``{array_id}``."""
    if n_runs < 2:
        raise SchedulerError(f"study {study!r} has {n_runs} run; PBS arrays need two or more: run it with 'mitolib study run'")
    variables = qsub_variables(study, profile, overrides)
    extra = shlex.split(qsub_args)
    array = ["qsub", "-J", f"0-{n_runs - 1}", "-v", variables, *extra, STUDY_SCRIPT]
    collect = ["qsub", "-W", "depend=afterany:{array_id}", "-v", variables, *extra, COLLECT_SCRIPT]
    return array, collect


# Native Slurm: the same job scripts (sbatch reads their #PBS lines as comments), with the resources that
# Slurm's own options name, so a GPU is requested as --gres (Slurm's PBS wrapper drops `ngpus`).
SLURM_RESOURCES = {"gpu": ["--gres=gpu:1", "--cpus-per-task=8", "--mem=32G", "--time=04:00:00"],
                   "cpu": ["--cpus-per-task=2", "--mem=16G", "--time=04:00:00"]}
SLURM_COLLECT = ["--cpus-per-task=1", "--mem=4G", "--time=00:30:00"]


def sbatch_commands(study: str, profile: str, n_runs: int, overrides=None, sbatch_args: str = "",
                    gpu: bool = True) -> tuple[list[str], list[str]]:
    """The array job's and the collection job's ``sbatch`` argument lists (native Slurm); the latter holds
    ``{array_id}``.  ``gpu`` requests one GPU per run (``--gres=gpu:1``)."""
    if n_runs < 1:
        raise SchedulerError(f"study {study!r} has no run")
    exports = "ALL," + qsub_variables(study, profile, overrides)
    extra = shlex.split(sbatch_args)
    logs = f"--output={LOGS_DIR}/%x.o%A.%a"
    array = ["sbatch", "--parsable", f"--array=0-{n_runs - 1}", "--job-name=mitolib-study", logs,
             f"--export={exports}", *SLURM_RESOURCES["gpu" if gpu else "cpu"], *extra, STUDY_SCRIPT]
    collect = ["sbatch", "--parsable", "--dependency=afterany:{array_id}", "--job-name=mitolib-collect",
               f"--output={LOGS_DIR}/%x.o%j", f"--export={exports}", *SLURM_COLLECT, *extra, COLLECT_SCRIPT]
    return array, collect


def submit_pbs(study: str, profile: str, n_runs: int, overrides=None, *, dry_run: bool = False, qsub_args: str = "",
               scheduler: str = "pbs", gpu: bool = True) -> str | None:
    """Submit the study's array job and the dependent collection job (or print them); returns the array job id.

    ``scheduler``: ``pbs`` (qsub, PBS Pro) or ``slurm`` (sbatch, native: the GPU as ``--gres``)."""
    if scheduler == "slurm":
        array, collect = sbatch_commands(study, profile, n_runs, overrides, qsub_args, gpu)
    else:
        array, collect = qsub_commands(study, profile, n_runs, overrides, qsub_args)
    root = project_root()
    if dry_run:
        print(f"cd {shlex.quote(str(root))}")
        print(shlex.join(array))
        print(shlex.join(collect).replace("{array_id}", "<array job id>"))
        return None
    (root / LOGS_DIR).mkdir(exist_ok=True)  # the scripts' "#PBS -o logs/" and sbatch's --output need it
    array_id = _qsub(array, root)
    collect_id = _qsub([arg.replace("{array_id}", array_id) for arg in collect], root)
    print(f"array job {array_id} ({n_runs} runs); collection job {collect_id} after it")
    return array_id


def _qsub(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SchedulerError(f"{shlex.join(command)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return lines[-1].strip().split(";")[0]  # sbatch --parsable prints "<id>[;<cluster>]"
