"""ONNX of a whole `Classifier` (front end included): the export, ONNX Runtime sessions, the
parity check against PyTorch, and the checker and metadata of a written file.

The graph takes ``wav [batch, 1, num_samples]`` float32 and returns ``logits [batch, K]``; the
batch axis is dynamic, the samples axis too when asked (``dynamic_length``). Exported with the
legacy TorchScript exporter at opset 17 (timm ``utils/onnx.py`` in spirit). `wavetag.export`
builds the model-directory export on these; `Predictor` (``backend="onnx"``), the model tests and
``bench/models.py`` use them directly.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from wavetag.errors import WavetagError

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "wav", "logits"
PARITY_ATOL = 1e-4  # max |logit difference| allowed between ONNX Runtime and PyTorch (float32)
PARITY_BATCH = 16  # ONNX Runtime runs parity clips this many at a time (checks the batch axis)


def export_onnx(model: torch.nn.Module, path: str | Path, *, num_samples: int, dynamic_length: bool = False) -> Path:
    """Write ``model`` (in eval mode; its mode is restored afterwards) to ``path`` as ONNX, traced
    on one clip of ``num_samples``; the samples axis is dynamic if ``dynamic_length``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {INPUT_NAME: {0: "batch", 2: "samples"} if dynamic_length else {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
            torch.onnx.export(
                model,
                (torch.zeros(1, 1, num_samples),),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; name the model
        name = getattr(model, "name", type(model).__name__)
        raise WavetagError(f"ONNX export of {name} failed ({type(exc).__name__}: {exc})") from exc
    finally:
        model.train(was_training)
    return path


def onnx_session(path: str | Path, *, threads: int = 1):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_logits(session, wav: np.ndarray, *, batch_size: int = PARITY_BATCH) -> np.ndarray:
    """``session`` run on ``wav [N, 1, T]`` float32, ``batch_size`` clips at a time → logits ``[N, K]``."""
    return np.concatenate(
        [
            session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(wav[i : i + batch_size], np.float32)})[0]
            for i in range(0, len(wav), batch_size)
        ]
    )


def parity(model: torch.nn.Module, onnx: str | Path | object, wav: np.ndarray) -> float:
    """Max |logit difference| between ``model`` (eval mode, restored) and the ONNX file or session
    ``onnx`` on ``wav [N, 1, T]`` (inf when the logits' shapes differ)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            expected = model(torch.from_numpy(np.ascontiguousarray(wav, np.float32))).numpy()
    finally:
        model.train(was_training)
    session = onnx_session(onnx) if isinstance(onnx, (str, Path)) else onnx
    got = onnx_logits(session, wav)
    return float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")


def noise_clips(count: int, num_samples: int, *, seed: int = 0, rms: float = 0.1) -> np.ndarray:
    """Seeded Gaussian noise ``[count, num_samples]`` float32 (parity clips without real audio)."""
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal((count, num_samples))).astype(np.float32)


def check_graph(path: Path) -> None:
    """`onnx.checker.check_model` (with shape inference); `WavetagError` naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - checker errors come in several types
        raise WavetagError(f"{path}: onnx.checker rejects the exported graph ({exc})") from exc


def write_metadata(path: Path, props: dict[str, str]) -> None:
    """Set ``metadata_props`` (replacing keys already there) and rewrite the file atomically."""
    import onnx

    graph = onnx.load(str(path))
    kept = [p for p in graph.metadata_props if p.key not in props]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    for key, value in props.items():
        graph.metadata_props.add(key=key, value=value)
    graph.producer_name = "wavetag"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        onnx.save(graph, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
