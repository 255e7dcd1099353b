"""``python -m benchmarks.run``: measure training throughput, memory, FLOP rates and evaluation time.

Every configuration runs in its own fresh subprocess (:mod:`benchmarks.worker`), so mixed-precision
policies, XLA and thread settings cannot leak from one to the next, and each peak RSS is that
configuration's own.  A probe subprocess first lists the devices and counts the FLOPs; the
matrix-product peak is measured at the start and at the end.  See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import inputs, machine as machine_info, plan, report, summary
from mitolib.core.provenance import git_commit, library_versions

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEFAULT_OUT = PACKAGE_DIR / "results"
QUICK_OUT = DEFAULT_OUT / "quick"      # ignored by benchmarks/.gitignore
TASK_TIMEOUT_S = 3600                  # one subprocess; the original width with XLA compiles for minutes
LOG_TAIL_CHARS = 2000                  # of a failed task's output, kept in the results
TEMP_KEYS = ("patches", "volume")      # temporary paths in task specs, not written to the results
HIDDEN_GPUS = "-1"                     # CUDA_VISIBLE_DEVICES value that hides every GPU

DESCRIPTIONS = {
    "baseline": "the whole set as float64 NumPy arrays (3 identical channels, divided by 255) passed to "
                "`model.fit(x, y, batch_size=B, shuffle=True)`, a 3-channel model (the original pipeline; its batch "
                "norm on TensorFlow's fused kernel, as tf.keras 2 ran it and as every configuration but `keras_bn` "
                "does)",
    "project": "uint8 patches through `mitolib.data.pipeline.make_dataset` (1 channel, the profile's augmentation, "
               "cast and scaled per batch, prefetch), a 1-channel model",
    "options": "each on top of the project pipeline, alone: mixed precision (`mixed_bfloat16` on CPUs with "
               "avx512_bf16/amx_bf16, `mixed_float16` on GPUs), XLA (`jit_compile=True`), thread counts "
               "(intra-op/inter-op as given), Keras 3's composite batch norm instead of the fused kernel (`keras_bn`); "
               "and `fixed`, no input work: the project pipeline's first batch fed again at every step (the ceiling "
               "of any input pipeline, not a configuration to train with)",
    "memory": "peak RSS from `resource.getrusage(RUSAGE_SELF).ru_maxrss` at the end of a fresh subprocess per "
              "configuration (interpreter, TensorFlow, data and model included); on a GPU also TensorFlow's "
              "peak allocated GPU memory",
    "flops": "counted from the model's layers: convolutions 2·k·k·C_in·C_out·H_out·W_out, transposed "
             "convolutions 2·k·k·C_in·C_out·H_in·W_in, dense layers likewise (1 multiply-accumulate = 2 FLOPs); "
             "bias, normalisation, activations, pooling and element-wise ops not counted; a training step ≈ 3x "
             "the forward pass. The TensorFlow profiler's count of every op is shown as a cross-check",
    "peak": "best of several timed square float32 matrix products (and of the mixed-precision dtype where "
            "that is measured) at the start and at the end of the run; % of peak compares a configuration's "
            "achieved FLOP/s (training FLOPs x images/s) with the peak of its compute dtype.",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny synthetic shapes to check that everything runs (not a measurement)")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results; "
                                                 "benchmarks/results/quick with --quick)")
    parser.add_argument("--label", help="results file name (default: device and machine model)")
    parser.add_argument("--repeats", type=int, help=f"rounds of every training configuration (default {plan.ROUNDS})")
    parser.add_argument("--steps", type=int, help=f"timed steps at the cpu width (default {plan.STEPS['cpu']})")
    parser.add_argument("--original-steps", type=int,
                        help=f"timed steps at the original width (default {plan.STEPS['original']})")
    parser.add_argument("--warmup", type=int, help=f"untimed steps first (default {plan.WARMUP_STEPS})")
    parser.add_argument("--patches", type=int, help=f"training patches in memory (default {plan.PATCHES})")
    parser.add_argument("--architectures", type=_names,
                        help=f"comma-separated subset of {','.join(plan.study_architectures())}")
    parser.add_argument("--widths", type=_names, help="comma-separated subset of cpu,original")
    parser.add_argument("--variants", type=_names, help=f"comma-separated subset of {','.join(plan.VARIANTS)}")
    parser.add_argument("--threads", type=_thread_pair,
                        help="intra,inter op threads of the threads variant (default: usable cores,1)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="auto: the GPU where TensorFlow sees one; cpu hides GPUs")
    parser.add_argument("--eval-repeats", type=int, help=f"rounds of evaluation (default {plan.EVAL_ROUNDS})")
    parser.add_argument("--skip-eval", action="store_true", help="no full-volume evaluation")
    parser.add_argument("--timeout", type=int, default=TASK_TIMEOUT_S, help="seconds allowed per subprocess")
    parser.add_argument("--plan", action="store_true", help="list the tasks after the probe and stop")
    return parser.parse_args(argv)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _thread_pair(text: str) -> tuple[int, int]:
    try:
        intra, inter = (int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected INTRA,INTER (two integers), got {text!r}") from error
    return intra, inter


def _check_choice(kind: str, chosen: list[str], allowed) -> list[str]:
    unknown = [name for name in chosen if name not in allowed]
    if unknown:
        raise SystemExit(f"unknown {kind} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return chosen


def child_environment(device: str) -> dict:
    """The workers' environment: quiet TensorFlow logging, GPUs hidden for ``--device cpu``."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = HIDDEN_GPUS
    return env


class Runner:
    """Runs task specs in fresh ``benchmarks.worker`` subprocesses and prints one progress line per task."""

    def __init__(self, folder: Path, env: dict, timeout: int, total: int = 0):
        self.folder, self.env, self.timeout, self.total = folder, env, timeout, total
        self.count, self.started = 0, time.perf_counter()

    def __call__(self, spec: dict, what: str) -> dict:
        self.count += 1
        stem = self.folder / f"task{self.count:04d}"
        spec_path, result_path, log_path = (stem.with_suffix(ext) for ext in (".spec.json", ".result.json", ".log"))
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        started = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                subprocess.run([sys.executable, "-m", "benchmarks.worker", str(spec_path), str(result_path)],
                               cwd=PROJECT_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                               timeout=self.timeout)
            except subprocess.TimeoutExpired:
                pass
        wall = time.perf_counter() - started
        if result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
        else:
            result = {"ok": False,
                      "error": f"no result after {wall:.0f} s (timed out or killed; limit {self.timeout} s)"}
        if not result["ok"]:
            result["log_tail"] = log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        result["wall_seconds"] = wall
        self._progress(what, result)
        return result

    def _progress(self, what: str, result: dict) -> None:
        elapsed = (time.perf_counter() - self.started) / 60
        of = f"/{self.total}" if self.total else ""
        if not result["ok"]:
            outcome = f"FAILED: {result['error']}"
        elif "images_per_second" in result:
            outcome = f"{result['images_per_second']:.3g} images/s"
        elif "seconds" in result:
            outcome = f"{result['seconds']:.3g} s"
        elif "flops_per_second" in result:
            outcome = f"{result['flops_per_second'] / report.GIGA:.3g} GFLOP/s"
        else:
            outcome = "done"
        print(f"[{self.count:3d}{of} {elapsed:6.1f} min] {what}: {outcome} ({result['wall_seconds']:.0f} s)",
              flush=True)


def _what(task: dict) -> str:
    if task["kind"] == "train":
        return f"train {task['width']} {task['architecture']} {task['variant']} round {task['round'] + 1}"
    if task["kind"] == "eval":
        return f"evaluate {'with' if task['tta'] else 'without'} TTA round {task['round'] + 1}"
    return f"peak {task['dtype']} matmul ({task['when']})"


def _public(task: dict, result: dict) -> dict:
    """A task and its result for the results file (temporary paths dropped)."""
    return {**{k: v for k, v in task.items() if k not in TEMP_KEYS}, **result}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every task succeeded, 1 when some failed (they are reported)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    base = plan.quick_preset() if args.quick else plan.full_preset()
    try:
        preset = plan.with_options(base, repeats=args.repeats, steps=args.steps, original_steps=args.original_steps,
                                   warmup=args.warmup, n_patches=args.patches, eval_repeats=args.eval_repeats)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    architectures = _check_choice("architectures", args.architectures or list(preset.architectures),
                                  plan.study_architectures())
    widths = _check_choice("widths", args.widths or list(preset.default_widths), list(preset.widths))
    variants = _check_choice("variants", args.variants or list(plan.VARIANTS), list(plan.VARIANTS))
    machine = machine_info.describe()
    threads = args.threads or (machine["usable_cores"], 1)
    load_start = machine_info.load_average()
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="mitolib-benchmark-") as folder:
        folder = Path(folder)
        runner = Runner(folder, child_environment(args.device), args.timeout)
        models = plan.flop_models(preset, architectures, widths, variants)
        probe = runner({"kind": "probe", "models": models, "params": plan.eval_params(preset), "profiler": True},
                       "probe: devices and FLOP counts")
        if not probe["ok"]:
            raise SystemExit(f"the probe failed: {probe['error']}\n{probe.get('log_tail', '')}")
        device = "gpu" if probe["gpus"] else "cpu"
        if args.device == "gpu" and device != "gpu":
            raise SystemExit("--device gpu: TensorFlow sees no GPU here")
        skipped, planned = [], []
        for key in variants:
            reason = plan.skip_reason(plan.VARIANTS[key], device, machine["cpu_bf16"])
            if reason:
                skipped.append({"what": plan.VARIANTS[key].title, "reason": reason})
            else:
                planned.append(key)
        mixed = any(plan.VARIANTS[key].mixed for key in planned)
        real = inputs.real_data_available() and not args.quick
        patches_path = folder / "patches.npz"
        train_tasks = plan.training_tasks(preset, architectures=architectures, widths=widths, variants=planned,
                                          device=device, threads=threads, patches=str(patches_path))
        eval_tasks = [] if args.skip_eval else plan.evaluation_tasks(preset, "")
        start_peaks = plan.peak_tasks(preset, device, mixed, "start")
        end_peaks = plan.peak_tasks(preset, device, mixed, "end")
        runner.total = 1 + len(start_peaks) + len(train_tasks) + len(eval_tasks) + len(end_peaks)
        if args.plan:
            for task in start_peaks + train_tasks + eval_tasks + end_peaks:
                print(_what(task))
            print(f"{runner.total} subprocesses on {device}; skipped: {skipped or 'none'}")
            return 0

        _, data_source = inputs.save_patches(folder, preset.n_patches, preset.patch_size, preset.patch_stride,
                                             preset.scale, plan.SEED, real=real)
        eval_source = None
        if eval_tasks:
            volume, eval_source = inputs.save_eval_volume(folder, preset.eval_shape, real=real)
            for task in eval_tasks:
                task["volume"] = volume
        peaks = [_public(task, runner(task, _what(task))) for task in start_peaks]
        training = [_public(task, runner(task, _what(task))) for task in train_tasks]
        evaluation = [_public(task, runner(task, _what(task))) for task in eval_tasks]
        peaks += [_public(task, runner(task, _what(task))) for task in end_peaks]

    best = summary.best_peaks(peaks)
    failures = [{"what": _what(row), "error": row["error"]} for row in peaks + training + evaluation if not row["ok"]]
    label = args.label or machine_info.machine_label(machine, device, [g["name"] for g in probe["gpus"]])
    if args.quick and not args.label:
        label = f"quick-{label}"
    results = {
        "label": label, "device": device, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(PROJECT_DIR),
        "command": " ".join(["python -m benchmarks.run", *map(shlex.quote, argv)]),
        "wall_seconds": time.perf_counter() - started, "machine": machine, "versions": library_versions(),
        "probe": {k: v for k, v in probe.items() if k not in ("flops", "ok", "wall_seconds")},
        "load_average": {"start": load_start, "end": machine_info.load_average()},
        "settings": {
            "quick": args.quick, "profile": plan.PROFILE, "patches": preset.n_patches, "patch_size": preset.patch_size,
            "scale": preset.scale, "data_source": data_source, "batch_size": preset.batch_size,
            "warmup": preset.warmup, "steps": {w: preset.steps[w] for w in widths}, "repeats": preset.repeats,
            "architectures": architectures, "widths": {w: preset.widths[w] for w in widths}, "variants": planned,
            "threads": list(threads), "mixed_policy": plan.MIXED_POLICY[device] if mixed else None,
            **DESCRIPTIONS,
            "evaluation": "skipped" if not eval_tasks else (
                f"`mitolib.training.evaluate.evaluate_volume` on the {eval_source} test volume "
                f"{' x '.join(map(str, preset.eval_shape))}, an untrained `{plan.PROFILE}`-profile unet (timing does "
                f"not depend on the weights), scale {preset.scale}, window {preset.eval_window}, overlap "
                f"{preset.eval_overlap}, batch {preset.eval_batch_size}; one slice evaluated first, untimed"),
        },
        "flops": probe["flops"], "peaks": peaks, "peak_flops_per_second": best,
        "training": training, "training_summary": summary.summarize_training(training, best),
        "evaluation": evaluation, "evaluation_summary": summary.summarize_evaluation(evaluation),
        "skipped": skipped, "failures": failures,
    }
    results["results"] = results["training_summary"]
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    for path in report.write_results(results, out):
        print(path)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
