"""Model zoo speed on one CPU thread: parameters, MACs, single-clip latency (eager PyTorch and ONNX
Runtime, front end included) and training throughput at batch 32 (front end, forward, backward,
SGD step). Targets are printed beside the figures. Not a test: timings depend on the machine.

    OMP_NUM_THREADS=1 python bench/models.py                    # every model (several minutes)
    OMP_NUM_THREADS=1 python bench/models.py bc_resnet_1 ds_cnn_s

Each timing is given twice: wall clock (what a user sees) and process CPU time (what the model
costs; stable when other processes share the cores). The load average is printed with them, as
REFERENCES.md asks: on a shared 2-core machine the wall figures swing with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavetag.models import create_model, list_models  # noqa: E402
from wavetag.models.onnx_check import export_onnx, onnx_session  # noqa: E402
from wavetag.models.summary import human  # noqa: E402

SAMPLE_RATE = 16000
NUM_CLASSES = 12
# (model, measure) -> (comparison, target, unit); measures: "ort_ms", "train_cps"
TARGETS = {
    ("bc_resnet_1", "ort_ms"): ("<=", 1.0, "ms, log-mel included"),
    ("ds_cnn_s", "train_cps"): (">=", 1400.0, "clips/s"),
    ("bc_resnet_1", "train_cps"): (">=", 300.0, "clips/s"),
}


def timed(fn, *, min_runs: int, min_seconds: float) -> tuple[float, float]:
    """(median wall seconds, mean CPU seconds) per call of ``fn`` after two warm-up calls."""
    fn()
    fn()
    walls, cpu0, t_end = [], time.process_time(), time.perf_counter() + min_seconds
    while len(walls) < min_runs or time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls), (time.process_time() - cpu0) / len(walls)


def eager_latency(model: torch.nn.Module, num_samples: int) -> tuple[float, float]:
    wav = 0.1 * torch.randn(1, 1, num_samples)
    model.eval()
    with torch.inference_mode():
        return timed(lambda: model(wav), min_runs=20, min_seconds=1.0)


def ort_latency(model: torch.nn.Module, num_samples: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx", num_samples=num_samples)
        session = onnx_session(path, threads=1)
        feed = {"wav": (0.1 * np.random.default_rng(0).standard_normal((1, 1, num_samples))).astype(np.float32)}
        return timed(lambda: session.run(None, feed), min_runs=50, min_seconds=1.0)


def train_throughput(model: torch.nn.Module, num_samples: int, batch: int) -> tuple[float, float]:
    """(clips/s by wall clock, clips/s by CPU time)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    wav = 0.1 * torch.randn(batch, 1, num_samples)
    target = torch.randint(0, NUM_CLASSES, (batch,))

    def step() -> None:
        loss = model.loss(model(wav), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    wall, cpu = timed(step, min_runs=3, min_seconds=3.0)
    return batch / wall, batch / cpu


def verdict(name: str, measure: str, value: float) -> str:
    if (name, measure) not in TARGETS:
        return ""
    op, target, unit = TARGETS[(name, measure)]
    ok = value <= target if op == "<=" else value >= target
    return f"  [target {op} {target:g} {unit}: {'met' if ok else 'MISSED'}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="models to run (default: all)")
    parser.add_argument("--batch", type=int, default=32, help="training batch size (default 32)")
    parser.add_argument(
        "--max-train-gmacs",
        type=float,
        default=1.5,
        help="skip training throughput for models above this many GMACs per clip (default 1.5; 0 = no limit)",
    )
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime latency")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.models or list_models()
    num_samples = SAMPLE_RATE
    print(
        f"torch {torch.__version__}, 1 thread, 1-s clips at {SAMPLE_RATE} Hz, {NUM_CLASSES} classes, load "
        f"{os.getloadavg()}"
    )
    print(
        f"{'model':20s} {'params':>7s} {'MACs':>6s} | {'eager ms':>15s} | {'onnxrt ms':>15s} | {'train clips/s':>15s}"
    )
    print(f"{'':20s} {'':>7s} {'':>6s} | {'wall / cpu':>15s} | {'wall / cpu':>15s} | {'wall / cpu':>15s}")
    for name in names:
        torch.manual_seed(0)
        model = create_model(name, num_classes=NUM_CLASSES)
        params, macs = model.num_params(), model.macs()
        eager = eager_latency(model, num_samples)
        ort = None if args.no_onnx else ort_latency(model, num_samples)
        too_big = args.max_train_gmacs and macs > args.max_train_gmacs * 1e9
        train = None if too_big else train_throughput(model, num_samples, args.batch)
        notes = ""
        if ort is not None:
            notes += verdict(name, "ort_ms", ort[0] * 1e3)
        if train is not None:
            notes += verdict(name, "train_cps", train[0])
        ort_s = "skipped" if ort is None else f"{ort[0] * 1e3:7.3f} / {ort[1] * 1e3:.3f}"
        train_s = (
            f"skipped (> {args.max_train_gmacs:g} GMACs)" if train is None else f"{train[0]:7.0f} / {train[1]:.0f}"
        )
        print(
            f"{name:20s} {human(params):>7s} {human(macs):>6s} | {eager[0] * 1e3:7.2f} / {eager[1] * 1e3:.2f} | "
            f"{ort_s:>15s} | {train_s:>15s}{notes}  load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
