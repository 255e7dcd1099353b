"""The PBS scripts (directives, thin per-study scripts, what the body runs) and ``mitolib study submit``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from mitolib.studies.batch import qsub_commands, qsub_variables
from mitolib.core.errors import SchedulerError
from mitolib.core.locations import NAME_ENV, PATH_ENV
from mitolib.studies.plan import plan

ROOT = Path(__file__).resolve().parent.parent
PBS = ROOT / "pbs"
GENERIC = PBS / "pbs_study.sh"
COLLECT = PBS / "pbs_collect.sh"
PER_STUDY = {"pbs_unet.sh": "architectures", "pbs_hyperparameter_optimization.sh": "hyperparameter_optimization"}
JOB_SCRIPTS = [GENERIC, COLLECT, *(PBS / name for name in PER_STUDY)]


def directives(path: Path) -> dict[str, list[str]]:
    """``#PBS`` directives by option, checking that they all come before the first command."""
    found: dict[str, list[str]] = {}
    seen_command = False
    for line in path.read_text().splitlines()[1:]:
        if line.startswith("#PBS"):
            assert not seen_command, f"{path.name}: directive after a command: {line}"
            option, _, value = line[len("#PBS "):].partition(" ")
            found.setdefault(option, []).append(value.strip())
        elif line.strip() and not line.startswith("#"):
            seen_command = True
    return found


@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=lambda p: p.name)
def test_job_scripts_are_well_formed(script):
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert os.stat(script).st_mode & stat.S_IXUSR
    assert "set -euo pipefail" in text
    found = directives(script)
    for option in ("-N", "-l", "-j", "-o"):
        assert option in found, f"{script.name} lacks #PBS {option}"
    assert found["-j"] == ["oe"] and found["-o"] == ["logs/"]
    assert any(value.startswith("walltime=") for value in found["-l"])
    assert any(value.startswith("select=1:ncpus=") for value in found["-l"])
    body = "\n".join(line for line in text.splitlines()[1:] if not line.lstrip().startswith("#"))
    assert not re.search(r"<<(?!<)", body), "no heredocs"
    assert not re.search(r"python3? +-[c ]", body), "no inline Python"
    assert not re.search(r"(^|[\s\"'=])(/|~)", body), "no absolute or home paths"
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_array_script_requests_a_gpu_and_defaults_to_three_runs():
    found = directives(GENERIC)
    assert found["-J"] == ["0-2"]
    assert "select=1:ncpus=8:ngpus=1:mem=32gb" in found["-l"]


@pytest.mark.parametrize("name, study", PER_STUDY.items())
def test_per_study_scripts_match_the_plan_and_the_generic_script(name, study):
    script = PBS / name
    found, generic = directives(script), directives(GENERIC)
    assert found["-J"] == [f"0-{len(plan(study, 'gpu')) - 1}"]
    assert {k: v for k, v in found.items() if k not in ("-N", "-J")} == \
           {k: v for k, v in generic.items() if k not in ("-N", "-J")}
    text = script.read_text()
    assert f"export STUDY={study}\n" in text and "exec bash pbs/pbs_study.sh" in text
    assert len([line for line in text.splitlines() if line.strip() and not line.startswith("#")]) <= 4, "keep it thin"


@pytest.fixture
def fake_bin(tmp_path):
    """A folder, first on PATH, holding a fake ``mitolib`` that logs its arguments."""
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "mitolib"
    fake.write_text('#!/bin/bash\necho "$* TMPDIR=$TMPDIR" >> "$FAKE_LOG"\n')
    fake.chmod(0o755)
    return folder


def run_script(script: Path, fake_bin: Path, tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = tmp_path / "mitolib.log"
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("PBS_", "SLURM_", "MITOLIB_")) and key not in ("STUDY", "PROFILE", "OVERRIDES", "TMPDIR")}
    full = base | {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log),
                   "MITOLIB_VENV": "no-such-venv"} | env
    done = subprocess.run(["bash", str(script)], env=full, cwd=tmp_path, capture_output=True, text=True)
    return done, (log.read_text().splitlines() if log.exists() else [])


def test_study_script_runs_one_index_under_pbs(fake_bin, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done, calls = run_script(GENERIC, fake_bin, tmp_path, PBS_O_WORKDIR=str(ROOT), PBS_ARRAY_INDEX="4",
                             STUDY="seeds", PROFILE="smoke", OVERRIDES="epochs=3 seed=1", TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr
    assert calls == [f"study run-index seeds 4 --profile smoke -p epochs 3 -p seed 1 TMPDIR={scratch}"]


def test_study_script_under_the_slurm_qsub_wrapper(fake_bin, tmp_path):
    done, calls = run_script(GENERIC, fake_bin, tmp_path, SLURM_SUBMIT_DIR=str(ROOT), SLURM_ARRAY_TASK_ID="2",
                             STUDY="architectures")
    assert done.returncode == 0, done.stderr
    assert calls[0].startswith("study run-index architectures 2 --profile gpu TMPDIR=")
    made = Path(calls[0].split("TMPDIR=")[1])
    assert not made.exists(), "a scratch folder the script made is removed at exit"


def test_study_script_needs_an_index_and_a_study(fake_bin, tmp_path):
    done, calls = run_script(GENERIC, fake_bin, tmp_path, PBS_O_WORKDIR=str(ROOT), STUDY="seeds")
    assert done.returncode == 2 and "array index" in done.stderr and not calls
    done, calls = run_script(GENERIC, fake_bin, tmp_path, PBS_O_WORKDIR=str(ROOT), PBS_ARRAY_INDEX="0")
    assert done.returncode != 0 and "set STUDY" in done.stderr and not calls


def test_per_study_script_sets_its_study(fake_bin, tmp_path):
    done, calls = run_script(PBS / "pbs_unet.sh", fake_bin, tmp_path, PBS_O_WORKDIR=str(ROOT), PBS_ARRAYID="1")
    assert done.returncode == 0, done.stderr
    assert calls[0].startswith("study run-index architectures 1 --profile gpu ")


def test_collect_script_reports_status_then_collects(fake_bin, tmp_path):
    done, calls = run_script(COLLECT, fake_bin, tmp_path, PBS_O_WORKDIR=str(ROOT), STUDY="architectures",
                             PROFILE="smoke")
    assert done.returncode == 0, done.stderr
    assert [call.split(" TMPDIR")[0] for call in calls] == [
        "study status architectures --profile smoke", "study collect architectures --profile smoke"]


def _only_runs_setting(monkeypatch, tmp_path):
    """Leave MITOLIB_RUNS as the one MITOLIB_* setting (make test exports MITOLIB_DATA, for example)."""
    for name in PATH_ENV + NAME_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))


def test_qsub_commands(monkeypatch, tmp_path):
    _only_runs_setting(monkeypatch, tmp_path)
    array, collect = qsub_commands("seeds", "gpu", 9, {"epochs": 5}, qsub_args="-q gpu -A proj")
    variables = f"STUDY=seeds,PROFILE=gpu,OVERRIDES=epochs=5,MITOLIB_RUNS={tmp_path / 'runs'}"
    assert array == ["qsub", "-J", "0-8", "-v", variables, "-q", "gpu", "-A", "proj", "pbs/pbs_study.sh"]
    assert collect == ["qsub", "-W", "depend=afterany:{array_id}", "-v", variables, "-q", "gpu", "-A", "proj",
                       "pbs/pbs_collect.sh"]
    with pytest.raises(SchedulerError, match="two or more"):
        qsub_commands("seeds", "gpu", 1)
    with pytest.raises(SchedulerError, match="commas"):
        qsub_variables("seeds", "gpu", {"data_root": "a,b"})


def test_submit_captures_the_array_id(monkeypatch, tmp_path, capsys):
    from mitolib.cli import main

    folder = tmp_path / "bin"
    folder.mkdir()
    qsub = folder / "qsub"
    qsub.write_text('#!/bin/bash\necho "$*" >> "$FAKE_LOG"\n'
                    'if [[ "$*" == *depend* ]]; then echo 1235.server; else echo "1234[].server"; fi\n')
    qsub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "qsub.log"))
    _only_runs_setting(monkeypatch, tmp_path)
    monkeypatch.setattr("mitolib.studies.batch.project_root", lambda: tmp_path)  # qsub's folder, where logs/ is made
    assert main(["study", "submit", "architectures", "--scheduler", "pbs", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "qsub -J 0-2 -v STUDY=architectures,PROFILE=cpu" in out and "<array job id>" in out  # the one default
    assert not (tmp_path / "qsub.log").exists()
    assert main(["study", "submit", "architectures", "--profile", "smoke"]) == 0
    first, second = (tmp_path / "qsub.log").read_text().splitlines()
    assert first.startswith("-J 0-2 -v STUDY=architectures,PROFILE=smoke,MITOLIB_RUNS=") and first.endswith(str(GENERIC.relative_to(ROOT)))
    assert second.startswith("-W depend=afterany:1234[].server -v STUDY=architectures") and second.endswith("pbs/pbs_collect.sh")
    assert "array job 1234[].server (3 runs); collection job 1235.server" in capsys.readouterr().out
    assert (tmp_path / "logs").is_dir()


def test_native_slurm_submission_requests_the_gpu_as_gres():
    from mitolib.studies.batch import sbatch_commands

    array, collect = sbatch_commands("architectures", "gpu", 3, {"epochs": 2})
    assert array[:3] == ["sbatch", "--parsable", "--array=0-2"] and "--gres=gpu:1" in array
    assert any(arg.startswith("--export=ALL,STUDY=architectures,PROFILE=gpu,OVERRIDES=epochs=2") for arg in array)
    assert array[-1] == "pbs/pbs_study.sh" and collect[-1] == "pbs/pbs_collect.sh"
    assert "--dependency=afterany:{array_id}" in collect and not any("gres" in arg for arg in collect)
    cpu, _ = sbatch_commands("architectures", "cpu", 3, gpu=False)
    assert not any("gres" in arg for arg in cpu)


def test_submit_dry_run_for_slurm_on_a_gpu_profile(capsys):
    from mitolib.cli import main

    assert main(["study", "submit", "architectures", "--profile", "gpu", "--scheduler", "slurm", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("sbatch --parsable --array=0-2") and "--gres=gpu:1" in lines[1]


def test_scheduler_options_that_look_like_mitolib_options_are_passed_on(capsys):
    """`--qsub-args "-p gpu"` used to collide with mitolib's own -p; the value reaches qsub as written."""
    from mitolib.cli import main

    assert main(["study", "submit", "architectures", "--scheduler", "pbs", "--dry-run", "--qsub-args", "-p gpu"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("qsub ")]
    assert len(lines) == 2 and all(" -p gpu " in line for line in lines)
