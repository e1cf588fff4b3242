"""int8 against float for a small keyword spotter: accuracy, file size and single-clip latency.

Trains (or takes) a small DS-CNN keyword model on the built-in speech set, exports it with
``export --int8`` (static QDQ: per-channel int8 weights, uint8 activations calibrated on training
clips, the log-mel front end in float) and prints float and int8 side by side against the target
of issue 11:

    int8 no slower than float, and within 1 point of its test accuracy

Latency is one clip on one thread in ONNX Runtime, measured two ways: the median wall time of
single runs (float and int8 in turn, so a busy machine slows both alike) and the process CPU
time per run over a block of runs (what the model costs when other processes share the cores).
The load average is printed with them. Not a test: timings depend on the machine.

    OMP_NUM_THREADS=1 .venv/bin/python bench/export.py             # ~10 min: synth 60 speakers, train ds_cnn_m, export
    OMP_NUM_THREADS=1 .venv/bin/python bench/export.py --model-dir runs/kws/best --pack packs/kws
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavetag.export import export  # noqa: E402
from wavetag.models.onnx_check import onnx_session  # noqa: E402

MAX_ACCURACY_DROP_POINTS = 1.0
CPU_BLOCK_RUNS = 500


def build_model(work: Path, *, model: str, speakers: int, epochs: int) -> tuple[Path, Path]:
    """A small model trained on a synthetic speech set under ``work`` (reused when there)."""
    from wavetag.data import prepare
    from wavetag.data.synth import synth_speech_commands
    from wavetag.train import train
    from wavetag.train.recipes import train_config

    data, pack, run = work / "data", work / "pack", work / f"run-{model}"
    if not (pack / "pack.json").is_file():
        synth_speech_commands(data, speakers=speakers, jobs=1, progress=False)
        prepare(data, pack, source="speech-commands", clip_seconds=1.0, progress=False)
    if not (run / "best" / "config.json").is_file():
        train(pack, train_config("kws_cnn", model=model, epochs=epochs), run, progress=False, verbose=False)
    return run / "best", pack


def cpu_ms_per_run(path: Path, clip: np.ndarray, runs: int) -> float:
    session = onnx_session(path, threads=1)
    feed = {"wav": np.ascontiguousarray(clip[None, None, :], dtype=np.float32)}
    for _ in range(5):
        session.run(["logits"], feed)
    start = time.process_time()
    for _ in range(runs):
        session.run(["logits"], feed)
    return 1e3 * (time.process_time() - start) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="A trained model directory (skips synth and training).")
    parser.add_argument("--pack", type=Path, help="Its pack (default: the one in its config.json).")
    parser.add_argument("--model", default="ds_cnn_m", help="Model to train when no --model-dir is given.")
    parser.add_argument("--speakers", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "wavetag-bench-export")
    parser.add_argument("--latency-runs", type=int, default=300)
    args = parser.parse_args()

    started = time.perf_counter()
    if args.model_dir is None:
        args.model_dir, args.pack = build_model(args.work, model=args.model, speakers=args.speakers, epochs=args.epochs)
        print(f"trained {args.model} on {args.speakers} synthetic speakers in {time.perf_counter() - started:.0f} s")
    out = args.work / "export" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = export(args.model_dir, out, int8=True, pack=args.pack, latency_runs=args.latency_runs)
    float_stats, int8_stats = report.variants
    clip = np.zeros(report.num_samples, np.float32)
    clip[:] = 0.1 * np.random.default_rng(0).standard_normal(report.num_samples)
    cpu = {v.name: cpu_ms_per_run(v.path, clip, CPU_BLOCK_RUNS) for v in report.variants}
    load = os.getloadavg()[0]

    print(
        f"\n{report.model_name}, {report.sample_rate} Hz, {report.num_samples} samples a clip; load average {load:.1f}"
    )
    print(f"{'':6}{float_stats.accuracy_metric:>16}{'size':>11}{'wall ms':>9}{'CPU ms':>8}{'same top-1':>12}")
    for v in report.variants:
        acc = "n/a" if v.accuracy is None else f"{100 * v.accuracy:.2f} %"
        agree = "-" if v.top1_agreement is None else f"{100 * v.top1_agreement:.1f} %"
        print(f"{v.name:6}{acc:>16}{v.size_bytes / 1e3:>8.1f} kB{v.latency_ms:>9.3f}{cpu[v.name]:>8.3f}{agree:>12}")
    drop = None
    if float_stats.accuracy is not None and int8_stats.accuracy is not None:
        drop = 100 * (float_stats.accuracy - int8_stats.accuracy)
    speed_wall = float_stats.latency_ms / int8_stats.latency_ms
    speed_cpu = cpu["float"] / cpu["int8"]
    print(
        f"\nint8 speed vs float: {speed_wall:.3f}x wall, {speed_cpu:.3f}x CPU  (target >= 1.000x: "
        f"{'met' if min(speed_wall, speed_cpu) >= 1.0 else 'missed'})"
    )
    if drop is not None:
        print(
            f"accuracy lost by int8: {drop:+.2f} points  (target <= {MAX_ACCURACY_DROP_POINTS:g}: "
            f"{'met' if drop <= MAX_ACCURACY_DROP_POINTS else 'missed'})"
        )
    print(f"verdict printed by export: {report.int8_verdict}")
    print(f"files: {report.onnx_path}, {report.int8_path}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
