"""The mitolib command: train, evaluate, data check|fetch, study plan|run|run-index|status|collect|submit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mitolib.config import ConfigError


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    """``[["lr", "0.1"], ...]`` from repeated ``-p KEY VALUE`` into a dict (cast later by the config)."""
    return {key: value for key, value in (pairs or [])}


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """The ``-p KEY VALUE`` option shared by every command that resolves parameters."""
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="override one parameter of studies.yml (repeatable)")


def _train(args) -> int:
    from mitolib import rundir
    from mitolib.config import resolve_params
    from mitolib.runner import run_notebook
    from mitolib.train import default_run_dir

    params = resolve_params(args.profile, parse_overrides(args.param))
    run_dir = params["out_dir"] or default_run_dir(params)
    print(f"run directory: {run_dir}", flush=True)
    metrics = run_notebook(params, run_dir, progress=True)
    if metrics.get("status") != rundir.STATUS_DONE:
        print(f"run failed: {metrics.get('error')}", file=sys.stderr)
        return 1
    shown = {key: metrics.get(key) for key in ("best_epoch", "best_val_iou", "test_iou", "test_dice",
                                                 "train_seconds")}
    print("result: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    print(f"run directory: {run_dir}")
    return 0


def _evaluate(args) -> int:
    from mitolib.evaluate import EVALUATIONS, evaluate_run

    overrides = parse_overrides(args.param)
    if args.tta:
        overrides["tta"] = "true"
    out = Path(args.out) if args.out else Path(args.run_dir) / EVALUATIONS
    row = evaluate_run(args.run_dir, overrides, out=out)
    print("result: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"appended to: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mitolib`` command."""
    parser = argparse.ArgumentParser(prog="mitolib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one run through the papermill notebook")
    train.add_argument("--profile", default="smoke", help="profile of studies.yml (default: smoke)")
    add_override_argument(train)
    train.set_defaults(func=_train)
    evaluate = sub.add_parser("evaluate", help="evaluate a finished run's model again on the test volume "
                                               "(other evaluation settings, e.g. --tta)")
    evaluate.add_argument("run_dir", help="a finished run directory (params.json and model.keras)")
    evaluate.add_argument("--tta", action="store_true", help="8-fold flip/rotation test-time augmentation")
    evaluate.add_argument("--out", help="CSV to append the result to (default: RUN_DIR/evaluations.csv)")
    evaluate.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                          help="override one evaluation setting: tta, eval_window, eval_overlap, "
                               "eval_batch_size or threshold (repeatable)")
    evaluate.set_defaults(func=_evaluate)
    from mitolib import data, study

    data.add_parser(sub)
    study.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mitolib`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"mitolib: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
