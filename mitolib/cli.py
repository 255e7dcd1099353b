"""The mitolib command: train, evaluate, predict, export, data check|fetch, study plan|run|run-index|status|collect|submit."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from mitolib.config import ConfigError

INTERRUPTED_EXIT = 130  # the shell's status for Ctrl-C


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

    from mitolib.config import profile_in_use

    profile, how = profile_in_use(args.profile)
    print(f"profile: {profile} ({how})", file=sys.stderr)
    params = resolve_params(profile, parse_overrides(args.param))
    import threading

    from mitolib.runner import follow_history

    run_dir = Path(params["out_dir"] or default_run_dir(params))
    if rundir.is_complete(run_dir):
        raise FileExistsError(f"{run_dir} holds a finished run; a finished run is never overwritten: remove or move "
                              "it, or give another -p out_dir")
    print(f"run directory: {run_dir}", flush=True)
    stop = threading.Event()
    watcher = threading.Thread(target=follow_history, args=(run_dir, params["epochs"], stop), daemon=True)
    watcher.start()
    try:
        metrics = run_notebook(params, run_dir, progress=False)
    finally:
        stop.set()
        watcher.join()
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


def _predict(args) -> int:
    from mitolib.segment import predict_stack

    options = {"tta": True if args.tta else None, "z_median": args.z_median, "threshold": args.threshold,
               "window": args.window, "overlap": args.overlap, "batch_size": args.batch_size}
    report = predict_stack(args.model, args.input, args.output, probabilities_path=args.probabilities,
                           pixel_size=args.pixel_size, model_pixel_size=args.model_pixel_size, convert=args.convert,
                           overwrite=args.overwrite, progress=not args.quiet, **options)
    print(f"pixel size: {report['input_pixel_size_nm']:g} nm ({report['input_pixel_size_from']}); model: "
          f"{report['model_pixel_size_nm']:g} nm; resampled by {report['resampling']:g}")
    print(f"intensity: {report['intensity']}; settings: window {report['window']}, overlap {report['overlap']}, "
          f"tta {report['tta']}, z-median {report['z_median']}, threshold {report['threshold']:g}")
    print(f"wrote {report['output']}: {report['slices']} slices, {report['foreground_fraction']:.2%} mitochondria, "
          f"{report['seconds']:.1f} s")
    return 0


def _export(args) -> int:
    from mitolib.export import export_run, validate_package

    package = export_run(args.run_dir, args.output, overwrite=args.overwrite)
    status, _ = validate_package(package)
    print(f"wrote {package} (bioimage.io model spec 0.5; bioimageio.spec validation: {status})")
    return 0 if status.startswith("valid") else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mitolib`` command."""
    parser = argparse.ArgumentParser(prog="mitolib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one run through the papermill notebook")
    train.add_argument("--profile", help="profile of studies.yml (default: $MITOLIB_PROFILE, else cpu)")
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
    predict = sub.add_parser("predict", help="segment your own EM stack (TIFF, OME-TIFF, folder of slices, Zarr)")
    predict.add_argument("model", help="a finished run directory or a .keras file")
    predict.add_argument("input", help="a TIFF/OME-TIFF stack, a folder of PNG/TIFF slices or a .zarr array")
    predict.add_argument("-o", "--output", required=True, help="mask stack to write: .tif, .ome.tif or .zarr (0/255)")
    predict.add_argument("--probabilities", help="also write the probability map (uint8, p x 255) here")
    predict.add_argument("--pixel-size", type=float, help="input pixel size in nm (default: from the file's metadata)")
    predict.add_argument("--model-pixel-size", type=float,
                         help="pixel size the model was trained at, in nm (default: from the run's params.json)")
    predict.add_argument("--tta", action="store_true", help="8-fold flip/rotation test-time augmentation")
    predict.add_argument("--z-median", type=int, help="median over this many neighbouring slices (odd; 1 = none)")
    predict.add_argument("--threshold", type=float, help="probability threshold (default: the run's)")
    predict.add_argument("--window", type=int, help="sliding-window side in pixels at the model's scale")
    predict.add_argument("--overlap", type=float, help="overlap of neighbouring windows, a fraction in [0, 1)")
    predict.add_argument("--batch-size", type=int, help="windows per prediction batch")
    predict.add_argument("--convert", action="store_true",
                         help="accept 16-bit or float input, mapped linearly from its [min, max] to 0-255")
    predict.add_argument("--overwrite", action="store_true", help="replace existing output files")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(func=_predict)
    export = sub.add_parser("export", help="write a finished run as a BioImage Model Zoo package (.zip)")
    export.add_argument("run_dir", help="a finished run directory (params.json and model.keras)")
    export.add_argument("-o", "--output", required=True, help="the package to write (.zip)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing package")
    export.set_defaults(func=_export)
    from mitolib import data, study

    data.add_parser(sub)
    study.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mitolib`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"mitolib: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mitolib: interrupted; finished runs and files are kept, partial ones are not marked complete: "
              "run the same command again to resume", file=sys.stderr)
        return INTERRUPTED_EXIT
    except BrokenPipeError:  # `mitolib study status | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        if error.errno == errno.ENOSPC:
            print(f"mitolib: error: the disk is full ({error.filename or 'while writing'}); free space and run the "
                  "same command again (files being written were not put in place)", file=sys.stderr)
            return 1
        raise
    except RuntimeError as error:
        print(f"mitolib: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
