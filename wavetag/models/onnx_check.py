"""ONNX export of a whole `Classifier` (front end included) and a parity check in ONNX Runtime.

The graph takes ``wav [batch, 1, num_samples]`` float32 and returns ``logits [batch, K]``; the
batch axis is dynamic, the clip length fixed (models whose layer sizes depend on it are exported
for the length they were built for). Exported with the legacy TorchScript exporter at opset 17
(timm ``utils/onnx.py`` in spirit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wavetag.errors import WavetagError

OPSET = 17


@dataclass(frozen=True)
class ParityReport:
    """Largest absolute difference between PyTorch and ONNX Runtime logits."""

    max_abs_diff: float
    atol: float
    batch_size: int
    num_samples: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.atol


def export_onnx(model: torch.nn.Module, path: str | Path, *, num_samples: int, batch_size: int = 1) -> Path:
    """Write ``model`` (in eval mode; its mode is restored afterwards) to ``path`` as ONNX."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = torch.zeros(batch_size, 1, num_samples)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
            torch.onnx.export(
                model,
                (wav,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["wav"],
                output_names=["logits"],
                dynamic_axes={"wav": {0: "batch"}, "logits": {0: "batch"}},
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; name the model
        raise WavetagError(f"ONNX export of {getattr(model, 'name', type(model).__name__)} failed: {exc}") from exc
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


def check_onnx_parity(
    model: torch.nn.Module,
    path: str | Path,
    *,
    num_samples: int,
    batch_size: int = 2,
    atol: float = 1e-4,
    seed: int = 0,
) -> ParityReport:
    """Run ``model`` (eval mode) and the ONNX file at ``path`` on the same seeded noise clips."""
    gen = torch.Generator().manual_seed(seed)
    wav = 0.1 * torch.randn(batch_size, 1, num_samples, generator=gen)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(wav).numpy()
    finally:
        model.train(was_training)
    got = onnx_session(path).run(["logits"], {"wav": wav.numpy()})[0]
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    return ParityReport(max_abs_diff=diff, atol=atol, batch_size=batch_size, num_samples=num_samples)
