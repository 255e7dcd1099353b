"""Transcribe the original study's own training records into tidy tables under ``book/data/``.

The runs behind the original report left their per-epoch Keras histories and job logs in the public
repository Zhao-Xiaodan/unet-HPC, at commit 57beb218bb084364aa9ee5d1018c095aa163948d ("update from HPC",
2025-09-26). This script reads them from a local clone with ``git show COMMIT:PATH`` and writes

* ``original_histories.csv`` — one row per run and epoch: the 3 main runs and the 36 grid runs, and the
  3 runs of the next day's follow-up on 1,980 patches (commit 631086e697e3, "update 20250927"), every
  logged column as written (``loss``, ``accuracy``, ``jacard_coef``, ``val_loss``, ``val_accuracy``,
  ``val_jacard_coef``, ``lr``), the epoch counted from 1 (the file counts from 0);
* ``original_runs.csv`` — one row per run: its grid values, epochs logged, the best validation
  ``jacard_coef`` and its epoch, and the fields of the grid runs' ``_results.json``;
* ``original_jobs.csv`` — one row per job log: node, container, TensorFlow version, images found or
  loaded, training and validation shapes, steps per epoch, early-stopping and restoring lines, and
  the number of "``lr`` is deprecated" warnings.

Every row names its repository, commit and path. Values are transcribed, never edited.

Usage::

    git clone https://github.com/Zhao-Xiaodan/unet-HPC /tmp/unet-HPC
    python audits/original_logs.py /tmp/unet-HPC            # writes book/data/original_*.csv
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPOSITORY = "Zhao-Xiaodan/unet-HPC"
COMMIT = "57beb218bb084364aa9ee5d1018c095aa163948d"
MAIN_RUN_DIR = "mitochondria_segmentation_20250926_165043"
FOLLOW_UP_COMMIT = "631086e697e3d0e22710dffc21e463ff644ad70d"  # "update 20250927": the 1,980-patch runs
FOLLOW_UP_RUN_DIR = "mitochondria_segmentation_20250927_100511"
GRID_RUN_DIR = "hyperparameter_optimization_20250926_165036"
JOB_LOGS = ("Mitochondria_UNet_Segmentation.o229353", "UNet_Hyperparameter_Optimization.o229134",
            "UNet_Hyperparameter_Optimization.o229354")
# The original's model names -> this project's architecture names.
ARCHITECTURES = {"unet": "unet", "att_unet": "attention_unet", "custom_code_att_res_unet": "attention_resunet",
                 "UNet": "unet", "Attention_UNet": "attention_unet", "Attention_ResUNet": "attention_resunet"}
LOGGED = ["loss", "accuracy", "jacard_coef", "val_loss", "val_accuracy", "val_jacard_coef", "lr"]
OUT_DIR = Path(__file__).resolve().parents[1] / "book" / "data"


def git_show(clone: Path, path: str, commit: str = COMMIT) -> str:
    """The text of ``path`` at ``commit`` in the clone."""
    done = subprocess.run(["git", "-C", str(clone), "show", f"{commit}:{path}"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"original_logs: cannot read {path} at {commit[:12]} in {clone}: {done.stderr.strip()}; "
                         f"give a clone of https://github.com/{REPOSITORY} that holds that commit")
    return done.stdout


def list_paths(clone: Path, folder: str) -> list[str]:
    done = subprocess.run(["git", "-C", str(clone), "ls-tree", "-r", "--name-only", COMMIT, folder],
                          capture_output=True, text=True, check=True)
    return sorted(done.stdout.split())


def provenance(path: str, commit: str = COMMIT) -> dict:
    return {"repository": REPOSITORY, "commit": commit, "path": path}


def read_history(clone: Path, path: str, commit: str = COMMIT) -> pd.DataFrame:
    table = pd.read_csv(io.StringIO(git_show(clone, path, commit)), index_col=0)
    missing = [column for column in LOGGED if column not in table.columns]
    if missing:
        raise SystemExit(f"original_logs: {path} lacks the logged columns {missing}")
    table = table[LOGGED].reset_index(drop=True)
    table.insert(0, "epoch", range(1, len(table) + 1))
    return table


def main_runs(clone: Path, study: str = "main", folder: str = MAIN_RUN_DIR, commit: str = COMMIT,
              job: str = "229353") -> list[tuple[dict, pd.DataFrame]]:
    runs = []
    for name in ("unet", "att_unet", "custom_code_att_res_unet"):
        path = f"{folder}/{name}_history_df.csv"
        run = {"study": study, "run": name, "architecture": ARCHITECTURES[name], "grid_learning_rate": None,
               "batch_size": 8, "job": job, **provenance(path, commit)}
        runs.append((run, read_history(clone, path, commit)))
    return runs


GRID_NAME = re.compile(r"exp_(\d+)_(UNet|Attention_UNet|Attention_ResUNet)_lr([0-9.e-]+)_bs(\d+)$")


def grid_runs(clone: Path) -> list[tuple[dict, pd.DataFrame]]:
    runs = []
    for path in list_paths(clone, GRID_RUN_DIR):
        if not path.endswith("_history.csv"):
            continue
        folder = path.split("/")[1]
        match = GRID_NAME.match(folder)
        if not match:
            raise SystemExit(f"original_logs: unexpected grid folder {folder!r}")
        number, arch, lr, batch = match.groups()
        run = {"study": "grid", "run": f"exp_{number}", "architecture": ARCHITECTURES[arch],
               "grid_learning_rate": float(lr), "batch_size": int(batch), "job": "229354", **provenance(path)}
        results_path = path.replace("_history.csv", "_results.json")
        if results_path in list_paths(clone, f"{GRID_RUN_DIR}/{folder}"):
            fields = json.loads(git_show(clone, results_path))
            run.update({f"results_{key}": value for key, value in fields.items()
                        if key in ("epochs_requested", "epochs_completed", "best_val_jaccard", "best_epoch",
                                   "training_time_seconds")})
        runs.append((run, read_history(clone, path)))
    return sorted(runs, key=lambda item: int(item[0]["run"].split("_")[1]))


def job_facts(clone: Path, name: str) -> dict:
    text = git_show(clone, name)

    def first(pattern: str):
        found = re.search(pattern, text)
        return found.group(1).strip() if found else None

    steps = sorted({int(total) for total in re.findall(r"^\s*\d+/(\d+) \[=+\]", text, flags=re.MULTILINE)})
    return {
        "job": name.rsplit(".o", 1)[1], "node": first(r"Running on node: (\S+)"),
        "started": first(r"Job started on (.+)"),
        "container": first(r"TensorFlow Container: \S*/([^/\s]+\.sif)"),
        "tensorflow": first(r"TensorFlow version: (\S+)"),
        "images_found": first(r"Images found: (\d+)"), "masks_found": first(r"Masks found: (\d+)"),
        "images_loaded": first(r"Loaded (\d+) images"),
        "train_shape": first(r"Training set: (\([^)]*\))"), "val_shape": first(r"Validation set: (\([^)]*\))"),
        "results_directory": first(r"(?:Output directory|Main results directory): (\S+)"),
        "steps_per_epoch": " ".join(map(str, steps)),
        "early_stopping_lines": len(re.findall(r"Epoch \d+: early stopping", text)),
        "restoring_lines": len(re.findall(r"Restoring model weights from the end of the best epoch", text)),
        "lr_deprecated_warnings": text.count("`lr` is deprecated in TF-Keras optimizer"),
        "tf_keras_in_paths": "tf_keras/" in text,
        **provenance(name),
    }


def transcribe(clone: Path, out_dir: Path) -> dict[str, Path]:
    histories, runs = [], []
    follow_up = main_runs(clone, "follow_up", FOLLOW_UP_RUN_DIR, FOLLOW_UP_COMMIT, job="")
    for run, history in main_runs(clone) + grid_runs(clone) + follow_up:
        histories.append(history.assign(**{key: run[key] for key in
                                           ("study", "run", "architecture", "grid_learning_rate", "batch_size")},
                                         path=run["path"], commit=run["commit"]))
        best = history.loc[history["val_jacard_coef"].idxmax()]
        runs.append({**run, "epochs_logged": len(history), "best_epoch": int(best["epoch"]),
                     "best_val_jacard_coef": float(best["val_jacard_coef"]),
                     "logged_lr_first_epoch": float(history["lr"].iloc[0])})
    order = ["study", "run", "architecture", "grid_learning_rate", "batch_size", "epoch", *LOGGED, "path", "commit"]
    tables = {
        "original_histories.csv": pd.concat(histories, ignore_index=True)[order].assign(repository=REPOSITORY),
        "original_runs.csv": pd.DataFrame(runs),
        "original_jobs.csv": pd.DataFrame([job_facts(clone, name) for name in JOB_LOGS]),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table in tables.items():
        path = out_dir / name
        partial = path.with_suffix(".partial.csv")
        table.to_csv(partial, index=False)
        partial.replace(path)
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clone", type=Path, help=f"a git clone of https://github.com/{REPOSITORY}")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: book/data)")
    args = parser.parse_args(argv)
    for name, path in transcribe(args.clone, args.out).items():
        print(f"{name}: {len(pd.read_csv(path))} rows -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
