"""int8 ONNX by dynamic quantisation, and float vs int8 measured on the same clips.

    model.onnx --ORT pre-processing (constant folding, shape inference)
      --quantize_dynamic: int8 weights of Conv/MatMul/Gemm layers outside the front end with at
        least MIN_WEIGHTS weights (activations quantised on the fly, per batch)--> model.int8.onnx

The front end (nodes named ``/frontend/...``: STFT, mel projection, log) stays float: its powers
span many decades before the log, where 8-bit rounding would cost the most. Small layers
(depthwise convolutions, tiny 1x1s) stay float too: the quantise / dequantise nodes around them
add more to the file and to the run time than their int8 weights save.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from wavetag.errors import WavetagError
from wavetag.export.onnx import INPUT_NAME, OUTPUT_NAME, VariantStats, check_graph, write_metadata

QUANTISED_OPS = ("Conv", "MatMul", "Gemm")
FRONTEND_SCOPE = "/frontend/"  # node-name prefix the exporter gives the front end's ops
MIN_WEIGHTS = 1024  # smaller weight tensors stay float
WARMUP_RUNS = 3


def quantize_int8(src: Path, dst: Path) -> tuple[int, int]:
    """Write the int8 version of ``src`` to ``dst`` (metadata copied, ``wavetag.quantization``
    added). Returns ``(layers quantised, Conv/MatMul/Gemm layers in all)``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tmp = dst.with_name(f".{dst.name}.pre-{os.getpid()}")
    try:
        quant_pre_process(str(src), str(tmp), skip_symbolic_shape=True)  # symbolic inference cannot read STFT
        graph = onnx.load(str(tmp))
        layers = [n for n in graph.graph.node if n.op_type in QUANTISED_OPS]
        sizes = {t.name: int(np.prod(t.dims)) for t in graph.graph.initializer}
        keep_float = {n.name for n in graph.graph.node if _keep_float(n, sizes)}
        # quantize_dynamic turns each Gemm into MatMul + Add first, naming the MatMul "<gemm>_MatMul"
        keep_float |= {f"{n.name}_MatMul" for n in graph.graph.node if n.op_type == "Gemm" and n.name in keep_float}
        quantize_dynamic(
            str(tmp),
            str(dst),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTISED_OPS),
            nodes_to_exclude=sorted(keep_float),
        )
    except WavetagError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime.quantization raises many types
        raise WavetagError(f"{src}: int8 quantisation with ONNX Runtime failed ({type(exc).__name__}: {exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    quantised = sum(n.name not in keep_float for n in layers)
    props = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    props["wavetag.quantization"] = (
        f"int8 dynamic: weights of {quantised} of {len(layers)} Conv/MatMul/Gemm layers; "
        f"front end and layers under {MIN_WEIGHTS} weights in float32"
    )
    write_metadata(dst, props)
    check_graph(dst)
    return quantised, len(layers)


def _keep_float(node, sizes: dict[str, int]) -> bool:
    if node.name.startswith(FRONTEND_SCOPE):
        return True
    if node.op_type not in QUANTISED_OPS:
        return False
    weight = node.input[1] if len(node.input) > 1 else ""
    return sizes.get(weight, 0) < MIN_WEIGHTS


# ---------------------------------------------------------------------------- comparison


def compare_variants(
    variants: list[tuple[str, Path]], *, model, pack, window: int, clips: np.ndarray, runs: int = 50
) -> list[VariantStats]:
    """Measure each ``(name, path)``: size, single-clip latency (median of ``runs``, 1 thread),
    accuracy on the pack's test split (sliding windows over long clips; None without a pack), and
    against the first variant: max |logit diff| and top-1 agreement on ``clips [N, window]``."""
    from wavetag.models.onnx_check import onnx_session

    out: list[VariantStats] = []
    reference = None
    for name, path in variants:
        session = onnx_session(path, threads=1)
        logits = _run(session, clips)
        accuracy, metric = split_accuracy(session, model=model, pack=pack, window=window)
        stats = VariantStats(
            name, Path(path), os.path.getsize(path), latency_ms(session, clips[:1], runs=runs), accuracy, metric
        )
        if reference is None:
            reference = logits
        else:
            stats.max_abs_diff_vs_float = float(np.max(np.abs(logits - reference)))
            stats.top1_agreement = float(np.mean(logits.argmax(axis=1) == reference.argmax(axis=1)))
        out.append(stats)
    return out


def _run(session, clips: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate(
        [
            session.run([OUTPUT_NAME], {INPUT_NAME: clips[i : i + batch, None, :]})[0]
            for i in range(0, len(clips), batch)
        ]
    )


def latency_ms(session, clip: np.ndarray, *, runs: int) -> float:
    """Median wall time of one ``session.run`` on ``clip [1, T]``, in milliseconds."""
    feed = {INPUT_NAME: np.ascontiguousarray(clip[:, None, :], dtype=np.float32)}
    for _ in range(WARMUP_RUNS):
        session.run([OUTPUT_NAME], feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], feed)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def split_accuracy(session, *, model, pack, window: int) -> tuple[float | None, str]:
    """The headline accuracy of ``session`` on the test split (``accuracy``; ``top1_accuracy``
    for multi-label), clips longer than a window classified by mean-pooled half-overlapping
    windows as in ``evaluate``. ``(None, "accuracy")`` without a pack or test clips."""
    import torch

    from wavetag.evaluate.compute import compute_metrics
    from wavetag.inference.windows import predict_windows
    from wavetag.train.validate import split_targets

    metric = "top1_accuracy" if model.task == "multilabel" else "accuracy"
    if pack is None or len(pack.split_indices("test")) == 0:
        return None, metric
    indices = pack.split_indices("test")

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
    metrics = compute_metrics(probs, split_targets(pack, indices).numpy(), task=model.task, labels=pack.labels)
    return float(metrics["overall"][metric]), metric
