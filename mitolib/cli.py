"""The mitolib command: train, evaluate, predict, export, data check|fetch, study plan|run|run-index|status|collect|submit."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from mitolib.core import quiet
from mitolib.core.config import DEFAULT_PROFILE, profile_in_use
from mitolib.core.errors import SchedulerError
from mitolib.core.locations import CACHE_ENV

INTERRUPTED_EXIT = 130  # the shell's status for Ctrl-C


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    """``[["lr", "0.1"], ...]`` from repeated ``-p KEY VALUE`` into a dict (cast later by the config)."""
    return {key: value for key, value in (pairs or [])}


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """The ``-p KEY VALUE`` option shared by every command that resolves parameters."""
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="override one parameter of studies.yml (repeatable)")


def _train(args) -> int:
    from mitolib.core import rundir
    from mitolib.core.config import resolve_params
    from mitolib.studies.runner import run_notebook
    from mitolib.training.train import default_run_dir

    from mitolib.studies.executor import handle_sigterm

    profile, how = profile_in_use(args.profile)
    print(f"profile: {profile} ({how})", file=sys.stderr)
    params = resolve_params(profile, parse_overrides(args.param))
    handle_sigterm()  # a batch system's kill: one line, status 143, the run left unmarked
    import threading

    from mitolib.studies.runner import follow_history

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
    from mitolib.core.rundir import run_threshold

    shown = {key: metrics.get(key) for key in ("best_epoch", "best_val_iou", "test_iou", "test_dice",
                                                 "train_seconds")}
    shown["threshold"] = run_threshold(params, metrics)  # the rule evaluate, predict and export use too
    print("result: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    print(f"run directory: {run_dir}")
    return 0


def _evaluate(args) -> int:
    from mitolib.training.evaluate import evaluate_run
    from mitolib.core.rundir import EVALUATIONS

    overrides = parse_overrides(args.param)
    if args.tta:
        overrides["tta"] = "true"
    out = Path(args.out) if args.out else Path(args.run_dir) / EVALUATIONS
    row = evaluate_run(args.run_dir, overrides, out=out, data_root=args.data_root, other_data=args.other_data,
                       ensemble=args.ensemble or ())
    print("result: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"appended to: {out}")
    return 0


def _predict(args) -> int:
    from mitolib.studies.executor import handle_sigterm
    from mitolib.training.segment import predict_stack

    handle_sigterm(announce=False)  # SIGTERM ends it as an exception would: temporary and partial files removed

    options = {"tta": True if args.tta else None, "z_median": args.z_median, "threshold": args.threshold,
               "window": args.window, "overlap": args.overlap, "batch_size": args.batch_size}
    report = predict_stack(args.model, args.input, args.output, probabilities_path=args.probabilities,
                           pixel_size=args.pixel_size, model_pixel_size=args.model_pixel_size, convert=args.convert,
                           overwrite=args.overwrite, objects_path=args.objects, object_steps=not args.raw_mask,
                           progress=not args.quiet, **options)
    if report["pixel_size_assumed"]:
        print(f"mitolib: WARNING: {args.input} states no pixel size; it was taken to be the training data's "
              f"{report['input_pixel_size_nm']:g} nm. If it is not, the masks are wrong: run again with --pixel-size "
              "NM. The output states no pixel size.", file=sys.stderr)
    print(f"pixel size: {report['input_pixel_size_nm']:g} nm ({report['input_pixel_size_from']}); model: "
          f"{report['model_pixel_size_nm']:g} nm; resampled by {report['resampling']:g}")
    print(f"intensity: {report['intensity']}; settings: window {report['window']}, overlap {report['overlap']}, "
          f"tta {report['tta']}, z-median {report['z_median']}, threshold {report['threshold']:g}")
    if report["object_steps"]:
        steps = report["object_steps"]
        print(f"object steps (chosen on the run's validation slices): components under {steps['min_voxels']} voxels "
              f"removed, holes filled, touching objects split at depth {steps['split_depth']:g} "
              "(0: not split); --raw-mask skips them")
    print(f"wrote {report['output']}: {report['slices']} slices, {report['foreground_fraction']:.2%} mitochondria, "
          f"{report['seconds']:.1f} s")
    if report["objects_path"]:
        print(f"wrote {report['objects_path']}: {report['objects']} mitochondria (3-D components; voxels of "
              f"{report['input_pixel_size_nm']:g} x {report['input_pixel_size_nm']:g} x {report['z_spacing_nm']:g} nm, "
              f"the slice spacing from {report['z_spacing_from']})")
    return 0


def _export(args) -> int:
    from mitolib.training.export import export_run, validate_package

    package = export_run(args.run_dir, args.output, overwrite=args.overwrite, data_name=args.data_name,
                         pixel_size=args.pixel_size, data_root=args.data_root, generated_tile=args.generated_tile)
    status, _ = validate_package(package)
    print(f"wrote {package} (bioimage.io model spec 0.5; bioimageio.spec validation: {status})")
    return 0 if status.startswith("valid") else 1


def _data_check(args) -> int:
    from mitolib.data.volumes import check_data

    report = check_data(args.path, threshold=args.threshold, convert=args.convert)
    print(report)
    return 0 if report.ok else 1


def _data_fetch(args) -> int:
    from mitolib.data.epfl import fetch_epfl

    print(f"EPFL volumes verified in {fetch_epfl(args.cache_dir)}")
    return 0


def add_data_parser(subparsers):
    """Register ``mitolib data check PATH`` and ``mitolib data fetch``; ``args.func(args)`` returns the exit code."""
    parser = subparsers.add_parser("data", help="check a data folder or download the EPFL volumes")
    commands = parser.add_subparsers(dest="data_command", required=True)
    check = commands.add_parser("check", help="report counts, shapes, pairing and mask values; exit 1 if not usable")
    check.add_argument("path", help="folder with the EPFL TIFFs, train/ and test/ slice folders, or images/ and masks/")
    check.add_argument("--threshold", type=float, default=None, help="binarise masks as value > THRESHOLD")
    check.add_argument("--convert", action="store_true", help="rescale 16-bit or float images to uint8")
    check.set_defaults(func=_data_check)
    fetch = commands.add_parser("fetch", help=f"download and verify the EPFL volumes (default cache: data/cache or ${CACHE_ENV})")
    fetch.add_argument("--cache-dir", default=None, help="download folder")
    fetch.set_defaults(func=_data_fetch)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _plan_from(args: argparse.Namespace) -> list:
    from mitolib.studies.plan import plan

    return plan(args.study, args.profile, parse_overrides(args.param))


def _announce_profile(args: argparse.Namespace) -> None:
    """Resolve ``--profile`` by the one rule and say which profile the command uses (stderr)."""
    args.profile, how = profile_in_use(args.profile)
    print(f"profile: {args.profile} ({how})", file=sys.stderr)


def _cmd_plan(args: argparse.Namespace) -> int:
    from mitolib.studies.plan import format_value

    runs = _plan_from(args)
    width = max(len(run.run_id) for run in runs)
    for run in runs:
        values = " ".join(f"{key}={format_value(value)}" for key, value in run.varying.items())
        print(f"{run.index:>4}  {run.run_id:<{width}}  {values}")
    print(f"{len(runs)} runs; array size {len(runs)} (qsub -J 0-{len(runs) - 1}); folders under {runs[0].run_dir.parent}")
    if args.record:
        from mitolib.results.collect import record_plan

        print(f"recorded the plan in {record_plan(runs)}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from mitolib.studies.runstate import STATES, run_state

    runs = _plan_from(args)
    states = [run_state(run) for run in runs]
    width = max(len(run.run_id) for run in runs)
    for run, (state, detail) in zip(runs, states):
        print(f"{run.index:>4}  {run.run_id:<{width}}  {state:<8} {detail}")
    counts = {state: sum(s == state for s, _ in states) for state in STATES}
    print(", ".join(f"{counts[state]} {state}" for state in STATES) + f" (of {len(runs)})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from mitolib.studies.executor import preflight, run_local

    runs = _plan_from(args)
    preflight(runs)
    try:
        summary = run_local(runs, jobs=args.jobs, attempts=args.retries)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED_EXIT
    return 1 if summary.get("failed") else 0


def _cmd_run_index(args: argparse.Namespace) -> int:
    from mitolib.studies.executor import OK_OUTCOMES, execute_run, handle_sigterm

    runs = _plan_from(args)
    if not 0 <= args.index < len(runs):
        print(f"index {args.index} out of range: study {args.study!r} has {len(runs)} runs (0-{len(runs) - 1})", file=sys.stderr)
        return 2
    handle_sigterm()
    outcome = execute_run(runs[args.index], attempts=args.retries)
    print(f"{runs[args.index].run_id}: {outcome}")
    return 0 if outcome in OK_OUTCOMES else 1


def _cmd_collect(args: argparse.Namespace) -> int:
    from mitolib.results.collect import collect

    summary = collect(_plan_from(args))
    print(summary.describe())
    if args.readme:
        from mitolib.results.headline import STUDIES, markers, update_readme

        if args.study not in STUDIES:
            print(f"--readme: the headline tables come from the studies {', '.join(STUDIES)}; README left as it is")
        elif update_readme(args.readme, args.profile, study=args.study):
            print(f"updated the {args.study} headline table in {args.readme}")
        else:
            start, end = markers(args.study)
            print(f"--readme: {args.readme} has no {args.study} headline markers, so it is left as it is; put the "
                  f"lines {start} and {end} where the table belongs", file=sys.stderr)
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    from mitolib.studies.batch import submit_pbs

    runs = _plan_from(args)
    gpu = any(run.params.get("require_gpu") for run in runs)
    submit_pbs(args.study, args.profile, len(runs), parse_overrides(args.param), dry_run=args.dry_run,
               qsub_args=args.qsub_args, scheduler=args.scheduler, gpu=gpu)
    return 0


def _with_profile(handler):
    """``handler`` after the profile is resolved and announced (errors are answered by :func:`main`)."""
    def run(args: argparse.Namespace) -> int:
        _announce_profile(args)
        return handler(args)

    return run


def add_study_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``study plan|run|run-index|status|collect|submit`` on an argparse ``subparsers``."""
    study = subparsers.add_parser("study", help="plan, run, follow and collect a named study of studies.yml")
    commands = study.add_subparsers(dest="study_command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("study", help="study name in studies.yml")
        sub.add_argument("--profile", help=f"profile of studies.yml (default: $MITOLIB_PROFILE, else {DEFAULT_PROFILE})")
        add_override_argument(sub)
        sub.set_defaults(func=_with_profile(handler))
        return sub

    planning = command("plan", _cmd_plan, "list the runs of a study and the array size")
    planning.add_argument("--record", action="store_true", help="also write results/<profile>/<study>/plan.csv, the "
                          "plan the book compares the collected runs with")
    run = command("run", _cmd_run, "run the study locally: skip done runs, redo failed or partial ones")
    run.add_argument("--jobs", type=_positive, default=1, help="runs at the same time (default 1)")
    run.add_argument("--retries", type=_positive, default=1, metavar="K", help="attempts per run in this invocation (default 1)")
    one = command("run-index", _cmd_run_index, "run the run at one plan index (a PBS array task); skip it if done")
    one.add_argument("index", type=int, help="plan index (0-based)")
    one.add_argument("--retries", type=_positive, default=1, metavar="K", help="attempts (default 1)")
    command("status", _cmd_status, "count done, failed, running and missing runs")
    collect = command("collect", _cmd_collect, "write results/<profile>/<study>/ tidy tables from the complete runs")
    collect.add_argument("--readme", metavar="PATH", help="also regenerate the headline table in this README "
                         "(the seeds and long_training studies)")
    submit = command("submit", _cmd_submit, "submit the study as a PBS array and a dependent collection job")
    submit.add_argument("--scheduler", choices=["pbs", "slurm"], default="pbs",
                        help="batch system: pbs (qsub, PBS Pro; default) or slurm (native sbatch, the GPU as --gres)")
    submit.add_argument("--dry-run", action="store_true", help="print the qsub commands instead of running them")
    submit.add_argument("--qsub-args", default="", metavar="ARGS",
                        help="extra qsub options for both jobs, one string (e.g. \"-q gpu -A project\")")
    return study


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
    evaluate.add_argument("--ensemble", action="append", metavar="OTHER_RUN_DIR",
                          help="average this run's probabilities with another finished run's on the same data "
                               "(repeatable); the run's own z-median and threshold then apply")
    evaluate.add_argument("--out", help="CSV to append the result to (default: RUN_DIR/evaluations.csv)")
    evaluate.add_argument("--data-root", help="the run's data folder, where it has moved since the run")
    evaluate.add_argument("--other-data", action="store_true",
                          help="score data other than the run's own (the row records their identity)")
    evaluate.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                          help="override one evaluation setting: tta, eval_window, eval_overlap, "
                               "eval_batch_size or threshold (repeatable)")
    evaluate.set_defaults(func=_evaluate)
    predict = sub.add_parser("predict", help="segment your own EM stack (TIFF, OME-TIFF, folder of slices, Zarr)")
    predict.add_argument("model", help="a finished run directory or a .keras file")
    predict.add_argument("input", help="a TIFF/OME-TIFF stack, a folder of PNG/TIFF slices or a .zarr array")
    predict.add_argument("-o", "--output", required=True, help="mask stack to write: .tif, .ome.tif or .zarr (0/255)")
    predict.add_argument("--probabilities", help="also write the probability map (uint8, p x 255) here")
    predict.add_argument("--objects", help="also write one row per mitochondrion (3-D component) to this .csv: "
                                           "label, voxels, volume in µm³, centroid, bounding box, touching the border")
    predict.add_argument("--raw-mask", action="store_true",
                         help="write the thresholded probabilities as they are, without the object steps the run "
                              "chose on its validation slices (small components removed, holes filled, touching "
                              "objects split)")
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
    export.add_argument("--data-name", help="what the run trained on, where it is not the EPFL volume (the package "
                                           "names it; no citation is invented)")
    export.add_argument("--data-root", help="the run's data folder, where it has moved since the run")
    export.add_argument("--generated-tile", action="store_true",
                        help="take the package's test tile from a generated volume (the run's data are not here)")
    export.add_argument("--pixel-size", type=float, help="nanometres per pixel of the training data, where known "
                                                         "and not recorded (else the package states none)")
    export.set_defaults(func=_export)
    add_data_parser(sub)
    add_study_parser(sub)
    return parser


PASSED_ON = ("--qsub-args",)  # options whose value is a scheduler's command line, passed on as it is


def _keep_passed_on_values(argv: list[str]) -> list[str]:
    """``--qsub-args "-p gpu"`` as ``--qsub-args=-p gpu``, so argparse does not read the value's ``-p`` as mitolib's
    own ``-p`` option."""
    joined, index = [], 0
    while index < len(argv):
        if argv[index] in PASSED_ON and index + 1 < len(argv):
            joined.append(f"{argv[index]}={argv[index + 1]}")
            index += 2
        else:
            joined.append(argv[index])
            index += 1
    return joined


TENSORFLOW_COMMANDS = ("train", "evaluate", "predict", "export")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mitolib`` command; returns the exit code."""
    quiet.set_quiet_defaults()  # before any command imports TensorFlow
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(_keep_passed_on_values(argv))
    if argv and argv[0] in TENSORFLOW_COMMANDS:
        try:
            quiet.import_tensorflow_quietly()
        except ImportError:
            pass  # the command itself reports it
    try:
        return int(args.func(args) or 0)
    except (ValueError, SchedulerError, FileNotFoundError, FileExistsError) as error:  # ConfigError, DataError: ValueErrors
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
        where = f" {error.filename}" if error.filename else ""
        print(f"mitolib: error: cannot use{where}: {error.strerror or error}; choose a file or folder this user can "
              "read and write (nothing was put in place)", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"mitolib: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
