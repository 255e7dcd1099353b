"""Run ``notebooks/train.py`` through papermill for one parameter set.

The jupytext source is converted to an ``.ipynb`` in the run directory,
executed with the parameters injected after its ``parameters`` cell, saved as
``train.ipynb``; only then is ``metrics.json`` put in place, so a complete
run directory always holds its executed notebook.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mitolib.core import rundir
from mitolib.core.locations import NOTEBOOK_SOURCE, project_root

KERNEL = "python3"


def notebook_source() -> Path:
    """The training notebook's jupytext source under the project root."""
    path = project_root() / NOTEBOOK_SOURCE
    if not path.is_file():
        raise FileNotFoundError(f"training notebook {path} not found; run from the project folder")
    return path


KERNEL_LOG_LEVEL = "CRITICAL"  # the kernel's own log: its messages when the run is stopped are noise, not news


def kernel_config(sockets: Path):
    """Kernel settings: on POSIX, talk to the kernel over Unix sockets in the private folder
    ``sockets`` (other users of a shared node can neither listen nor connect); TCP elsewhere.  The kernel's
    own log is quiet: a stopped run (Ctrl-C, SIGTERM) closes the kernel's sockets mid-reply, which it would
    report as tracebacks; errors of the training itself are in the executed notebook and ``metrics.json``."""
    from traitlets.config import Config

    quiet = {"NotebookClient": {"extra_arguments": [f"--IPKernelApp.log_level={KERNEL_LOG_LEVEL}"]}}
    if os.name != "posix":
        return Config(quiet)
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}, **quiet})


def run_notebook(params: dict, run_dir: str | Path, *, progress: bool = False, log_output: bool = False) -> dict:
    """Execute the training notebook for ``params`` into ``run_dir``; return the run's metrics.

    A failing training does not raise: its ``metrics.json`` has ``status: failed``
    with the error.  Only a broken installation (no kernel, no notebook) raises.
    """
    import jupytext
    import nbformat
    import papermill

    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in (rundir.METRICS, rundir.PENDING_METRICS):
        (run_dir / name).unlink(missing_ok=True)
    source = run_dir / ".train.source.ipynb"
    executed = run_dir / ".train.executed.ipynb"
    notebook = jupytext.read(notebook_source())
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, source)
    parameters = {**params, "out_dir": str(run_dir)}
    error = None
    with tempfile.TemporaryDirectory(prefix="mitolib-kernel-") as sockets:
        try:
            papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name=KERNEL,
                                       cwd=str(project_root()), progress_bar=progress, log_output=log_output,
                                       config=kernel_config(Path(sockets)))
        except papermill.PapermillExecutionError as exc:
            error = exc
        finally:
            source.unlink(missing_ok=True)
    if executed.exists():
        os.replace(executed, run_dir / rundir.NOTEBOOK)
    metrics = rundir.finalize(run_dir)
    if metrics is None:
        detail = f"{error.ename}: {error.evalue}" if error else "the notebook wrote no metrics"
        metrics = {"status": rundir.STATUS_FAILED, "error": detail}
        rundir.atomic_write_json(run_dir / rundir.METRICS, metrics)
    return metrics


FOLLOW_INTERVAL_S = 2.0  # how often the terminal view looks for a new epoch


def epoch_line(history, epochs: int) -> str:
    """One terminal line for the last epoch of a run's history (a ``history.csv`` table): loss, validation
    IoU, learning rate, seconds per epoch and the time left at that pace."""
    last = history.iloc[-1]
    done = int(last["epoch"])
    pace = float(history["epoch_seconds"].mean())
    left = max(0, epochs - done) * pace
    return (f"epoch {done}/{epochs}: loss {last['loss']:.4f}, val IoU {last['val_iou']:.4f}, "
            f"lr {last['learning_rate']:.2g}, {pace:.0f} s/epoch, about {left / 60:.1f} min left")


def follow_history(run_dir: Path, epochs: int, stop, out=None) -> None:
    """Print :func:`epoch_line` to ``out`` (stderr) whenever ``run_dir/history.csv`` gains an epoch, until the
    event ``stop`` is set (run in a thread beside :func:`run_notebook`; the executed notebook keeps its log);
    a status line before the first epoch, one when training ends and the test evaluation begins (the run
    folder's model file appears then), and a bar of the test slices predicted (``rundir.read_progress``)."""
    import sys

    import pandas as pd

    from tqdm import tqdm

    out = out or sys.stderr
    seen, evaluating, bar = 0, False, None
    path = Path(run_dir) / rundir.HISTORY
    print("starting: reading the data, building and compiling the model (the first epoch line follows it)",
          file=out, flush=True)
    while True:
        finished = stop.wait(FOLLOW_INTERVAL_S)
        if path.is_file():
            try:
                history = pd.read_csv(path)
            except (OSError, ValueError):
                history = None
            while history is not None and len(history) > seen:  # one line per epoch, even two in one look
                seen += 1
                print(epoch_line(history.iloc[:seen], epochs), file=out, flush=True)
        if not evaluating and (Path(run_dir) / rundir.MODEL).is_file():
            evaluating = True
            print(f"training done after {seen} epochs; evaluating the test volume", file=out, flush=True)
        counted = rundir.read_progress(run_dir) if evaluating else None
        if counted is not None:
            if bar is None:
                bar = tqdm(total=counted[1], desc="test volume", unit="slice", file=out)
            bar.update(counted[0] - bar.n)
        elif bar is not None and bar.n < bar.total:  # the file goes once every slice is predicted
            bar.update(bar.total - bar.n)
        if bar is not None and bar.n >= bar.total:
            bar.close()  # predicted; scoring follows (closing twice is harmless)
        if finished:
            if bar is not None:
                bar.close()
            return
