"""int8 ONNX by static QDQ quantisation, and float vs int8 measured on the same clips.

    model.onnx --ORT pre-processing (constant folding, shape inference)
      --quantize_static, QDQ format: int8 weights per output channel, uint8 activations whose
        ranges were calibrated (min/max) on up to CALIBRATION_CLIPS training clips of the pack;
        the front end's nodes excluded--> model.int8.onnx

ONNX Runtime fuses each QuantizeLinear → DequantizeLinear pair around a Conv/Gemm into an integer
kernel (QLinearConv, QGemm) when it loads the file, so the network after the front end runs in
8 bits end to end, with fixed scales and no per-batch range search. Dynamic quantisation (the
earlier scheme) measures activation ranges on every run and was several times slower than float.

The front end (every node in a ``/frontend/`` or ``/frontend_<i>/`` scope: STFT, mel projection,
log, a frozen speech embedding; the front ends of an ensemble's members included) stays float:
its powers span many decades before the log, where 8-bit rounding would cost the most, and a
frozen embedding trained on real speech loses accuracy in 8 bits (measured on the demo model:
4 points when the speech embedding was quantised too).

`int8_verdict` says whether the int8 file pays: at least `MIN_SPEEDUP` times as fast as float
and within `MAX_ACCURACY_DROP` of its accuracy. The int8 file is written either way (the table and its
metadata say which); a user who asked for it can judge, or delete it.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.errors import DataError, WavetagError
from wavetag.evaluate.compute import compute_metrics
from wavetag.inference.windows import predict_windows
from wavetag.models.onnx_check import INPUT_NAME, OUTPUT_NAME, check_graph, onnx_logits, onnx_session, write_metadata
from wavetag.tasks import get_task

# The exporter names a front end's ops /frontend/...; an ensemble's members' front ends are
# /backbone/frontend/..., /backbone/frontend_1/... (one scope per module instance).
FRONTEND_SCOPE = re.compile(r"/frontend(_\d+)?/")
CALIBRATION_CLIPS = 256  # training clips whose activation ranges set the int8 scales
CALIBRATION_BATCH = 16
CALIBRATION_SEED = 0
CALIBRATION_SPLITS = ("train", "validation")  # the first with clips is used; never the test split
ACCURACY_SPLITS = ("test", "validation")  # float and int8 are compared on the first with clips
MAX_ACCURACY_DROP = 0.01  # int8 "pays" when it loses at most one point of accuracy ...
MIN_SPEEDUP = 1.05  # ... and runs at least this many times as fast as float
WARMUP_RUNS = 3


@dataclass
class VariantStats:
    """One exported file measured on the same clips: ``accuracy`` on the pack's test split
    (None without a pack), ``size_bytes``, ``latency_ms`` (median, one clip, one thread)."""

    name: str
    path: Path
    size_bytes: int
    latency_ms: float
    accuracy: float | None = None
    accuracy_metric: str = "accuracy"
    max_abs_diff_vs_float: float | None = None
    top1_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "latency_ms": round(self.latency_ms, 4),
            "accuracy": self.accuracy,
            "accuracy_metric": self.accuracy_metric,
            "max_abs_diff_vs_float": self.max_abs_diff_vs_float,
            "top1_agreement": self.top1_agreement,
        }


def quantize_int8(src: Path, dst: Path, calibration: np.ndarray) -> tuple[int, int]:
    """Write the static QDQ int8 version of ``src`` to ``dst``, activation ranges calibrated on
    ``calibration`` ``[N, T]`` float32 clips (metadata copied, ``wavetag.quantization`` added).
    Returns ``(layers quantised, Conv/MatMul/Gemm layers outside the front end)``."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration.ndim != 2 or len(calibration) == 0:
        raise DataError(f"int8 calibration clips: shape {calibration.shape}; expected [N >= 1, samples]")
    tmp = dst.with_name(f".{dst.name}.pre-{os.getpid()}")
    try:
        quant_pre_process(str(src), str(tmp), skip_symbolic_shape=True)  # symbolic inference cannot read STFT
        graph = onnx.load(str(tmp))
        frontend = sorted(n.name for n in graph.graph.node if in_frontend(n.name))
        quantize_static(
            str(tmp),
            str(dst),
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=frontend,
        )
    except WavetagError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime.quantization raises many types
        raise WavetagError(f"{src}: int8 quantisation with ONNX Runtime failed ({type(exc).__name__}: {exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    quantised, total = _count_layers(onnx.load(str(dst)))
    props = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    props["wavetag.quantization"] = (
        f"int8 static QDQ: {quantised} of {total} Conv/MatMul/Gemm layers after the front end with int8 weights "
        f"(per channel) and uint8 activations calibrated on {len(calibration)} training clips; front end in float32"
    )
    write_metadata(dst, props)
    check_graph(dst)
    return quantised, total


def in_frontend(node_name: str) -> bool:
    """Whether an exported node belongs to a front end (`FRONTEND_SCOPE`)."""
    return FRONTEND_SCOPE.search(node_name) is not None


class _Calibration:
    """`onnxruntime.quantization.CalibrationDataReader` over clips ``[N, T]``, a batch at a time."""

    def __init__(self, clips: np.ndarray) -> None:
        self.clips, self.at = clips, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.at >= len(self.clips):
            return None
        batch = self.clips[self.at : self.at + CALIBRATION_BATCH, None, :]
        self.at += CALIBRATION_BATCH
        return {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self) -> None:
        self.at = 0


def _count_layers(graph) -> tuple[int, int]:
    """``(layers whose weight goes through DequantizeLinear, Conv/MatMul/Gemm layers)`` outside the front end."""
    dequantised = {n.output[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    layers = [n for n in graph.graph.node if n.op_type in ("Conv", "MatMul", "Gemm") and not in_frontend(n.name)]
    return sum(len(n.input) > 1 and n.input[1] in dequantised for n in layers), len(layers)


def calibration_clips(pack, window: int, *, count: int = CALIBRATION_CLIPS, seed: int = CALIBRATION_SEED):
    """``(clips [N, window] float32, split name)``: up to ``count`` clips drawn (seeded) from the
    first of `CALIBRATION_SPLITS` that has any, each its first window (zero-padded). `DataError`
    when there is no pack or it has neither split: int8 scales need real audio."""
    if pack is None:
        raise DataError(
            "int8 needs calibration clips from the model's training pack, and none was found: pass --pack PACK "
            "(the pack the model was trained on, or one with the same labels and sample rate)"
        )
    for split in CALIBRATION_SPLITS:
        indices = pack.split_indices(split)
        if len(indices):
            break
    else:
        raise DataError(
            f"{pack.path}: no {' or '.join(CALIBRATION_SPLITS)} clips to calibrate int8 on; pass --pack with "
            "the pack the model was trained on"
        )
    chosen = np.sort(np.random.default_rng(seed).permutation(indices)[:count])
    clips = np.zeros((len(chosen), window), np.float32)
    for row, i in enumerate(chosen.tolist()):
        x = pack.waveform(i)[:window]
        clips[row, : len(x)] = x
    return clips, split


def int8_verdict(float_stats: VariantStats, int8_stats: VariantStats) -> tuple[bool, str]:
    """``(pays, sentence)``: int8 pays when it is at least `MIN_SPEEDUP` times as fast as float
    (a smaller gain is within the noise of one machine's timings) and loses at most
    `MAX_ACCURACY_DROP` of accuracy (latency alone when accuracy was not measured)."""
    speed = float_stats.latency_ms / int8_stats.latency_ms if int8_stats.latency_ms > 0 else float("inf")
    times = f"{int8_stats.latency_ms:.3f} ms vs {float_stats.latency_ms:.3f} ms per clip"
    reasons = []
    if speed < 1.0:
        reasons.append(f"it is slower ({times})")
    elif speed < MIN_SPEEDUP:
        reasons.append(f"it is barely faster ({speed:.2f}x: {times})")
    drop = None
    if float_stats.accuracy is not None and int8_stats.accuracy is not None:
        drop = float_stats.accuracy - int8_stats.accuracy
        if drop > MAX_ACCURACY_DROP + 1e-9:
            reasons.append(f"it loses {100 * drop:.1f} points of {int8_stats.accuracy_metric} (allowed: 1)")
    if reasons:
        return False, "this model does not gain from int8: " + " and ".join(reasons) + "; deploy the float file"
    accuracy = (
        "accuracy not measured"
        if drop is None
        else f"{round(-100 * drop, 1) + 0.0:+.1f} points of {int8_stats.accuracy_metric}"
    )
    size = float_stats.size_bytes / int8_stats.size_bytes
    return True, f"int8 pays: {speed:.2f}x faster, {accuracy}, {size:.2f}x smaller"


# ---------------------------------------------------------------------------- comparison


def compare_variants(
    variants: list[tuple[str, Path]], *, model, pack, window: int, clips: np.ndarray, runs: int = 50
) -> list[VariantStats]:
    """Measure each ``(name, path)``: size, single-clip latency (median of ``runs``, 1 thread; the
    variants' runs interleaved, so a busy machine slows them alike), accuracy on the pack's test
    split (sliding windows over long clips; None without a pack), and against the first variant:
    max |logit diff| and top-1 agreement on ``clips [N, window]``."""
    sessions = [onnx_session(path, threads=1) for _, path in variants]
    latencies = latency_ms_interleaved(sessions, clips[:1], runs=runs)
    out: list[VariantStats] = []
    reference = None
    for (name, path), session, latency in zip(variants, sessions, latencies, strict=True):
        logits = onnx_logits(session, clips[:, None, :], batch_size=64)
        accuracy, metric = split_accuracy(session, model=model, pack=pack, window=window)
        stats = VariantStats(name, Path(path), os.path.getsize(path), latency, accuracy, metric)
        if reference is None:
            reference = logits
        else:
            stats.max_abs_diff_vs_float = float(np.max(np.abs(logits - reference)))
            stats.top1_agreement = float(np.mean(logits.argmax(axis=1) == reference.argmax(axis=1)))
        out.append(stats)
    return out


def latency_ms_interleaved(sessions: list, clip: np.ndarray, *, runs: int) -> list[float]:
    """Median wall time (ms) of one ``session.run`` on ``clip [1, T]`` for each session, one run
    of each in turn ``runs`` times."""
    feed = {INPUT_NAME: np.ascontiguousarray(clip[:, None, :], dtype=np.float32)}
    for session in sessions:
        for _ in range(WARMUP_RUNS):
            session.run([OUTPUT_NAME], feed)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for session, spent in zip(sessions, times, strict=True):
            start = time.perf_counter()
            session.run([OUTPUT_NAME], feed)
            spent.append(time.perf_counter() - start)
    return [1e3 * statistics.median(t) for t in times]


def latency_ms(session, clip: np.ndarray, *, runs: int) -> float:
    """Median wall time of one ``session.run`` on ``clip [1, T]``, in milliseconds."""
    return latency_ms_interleaved([session], clip, runs=runs)[0]


def split_accuracy(session, *, model, pack, window: int) -> tuple[float | None, str]:
    """The headline accuracy of ``session`` on the test split (the validation split when the pack
    has no test clips): ``accuracy``, or ``top1_accuracy`` for multi-label; clips longer than a
    window classified by mean-pooled half-overlapping windows as in ``evaluate``. Returns
    ``(accuracy, "<split> <metric>")``; ``(None, metric)`` without a pack or clips."""
    metric = get_task(model.task).accuracy_metric
    split = next((s for s in ACCURACY_SPLITS if pack is not None and len(pack.split_indices(s))), None)
    if split is None:
        return None, metric
    indices = pack.split_indices(split)

    def forward(wav: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: wav.numpy()})[0])

    logits = predict_windows(
        forward,
        pack.audio,
        pack.index.offset[indices],
        pack.index.length[indices],
        window=window,
        hop=max(1, window // 2),
        batch_size=64,
    )
    probs = model.probabilities(logits).numpy()
    metrics = compute_metrics(probs, pack.targets(indices), task=model.task, labels=pack.labels)
    return float(metrics["overall"][metric]), f"{split} {metric}"
