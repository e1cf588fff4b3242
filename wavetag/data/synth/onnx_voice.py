"""What the in-process neural engines (piper, kokoro) share: a one-thread ONNX Runtime session and
one call that returns samples, each failure raised as the engine's own error type."""

from __future__ import annotations

import numpy as np


def cpu_session(model: bytes, error: type[Exception], what: str):
    """An ONNX Runtime CPU session on one thread (synthesis runs one worker process per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not one type
        raise error(f"{what}: ONNX Runtime cannot run it ({exc})") from exc


def run_samples(session, feed: dict[str, np.ndarray], error: type[Exception], what: str) -> np.ndarray:
    """The session's first output for ``feed`` as float32 samples (n,)."""
    try:
        wav = session.run(None, feed)[0]
    except Exception as exc:  # noqa: BLE001
        raise error(f"{what} failed ({exc})") from exc
    return np.asarray(wav, dtype=np.float32).reshape(-1)
