"""`Predictor`: a trained model directory → labels, scores and events for any audio.

    Predictor.load(model_dir, backend="torch" | "onnx")
      .logits(wav [B, T] at .sample_rate)          -> [B, K]   (the one batched call)
      .predict(path | bytes | array, sample_rate=)  -> Prediction
      .predict_many(items, batch_size=64)           -> [Prediction]  (windows batched across files)
      .detect(long audio, hop_s=0.1)                -> [Event]       (see `wavetag.inference.detector`)

Audio at any rate or channel count is mixed down and resampled to the model's rate. A clip longer
than the model's window is cut into windows every ``hop_s`` (default half a window, as in
``evaluate``) and their logits are mean-pooled; a shorter one is zero-padded to one window.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.config import check_choice, check_range
from wavetag.errors import CheckpointError, ConfigError, WavetagError
from wavetag.inference.detector import detect
from wavetag.inference.inputs import AudioInput, Waveform, to_waveform
from wavetag.inference.windows import cut_window, pool_window_logits, window_starts
from wavetag.models import load_model_dir
from wavetag.models.io import read_config
from wavetag.models.onnx_check import export_onnx, onnx_session
from wavetag.tasks import get_task

BACKENDS = ("torch", "onnx")
DEFAULT_HOP_FRACTION = 0.5  # hop between windows of a long clip, as a fraction of the window
SHORT_CLIP_FRACTION = 0.25  # a clip under this share of the model's window gets a warning
ONNX_CACHE_DIR = ".cache"  # inside the model directory: exported graphs, named by weights digest


@dataclass
class WindowPrediction:
    """One window of a long clip: its span in the clip (seconds) and its own top class."""

    start_s: float
    end_s: float
    label: str | list[str]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "label": self.label,
            "score": self.score,
        }


@dataclass
class Prediction:
    """The result for one clip.

    ``label``: the top class (multi-label: the list of classes at probability >= 0.5);
    ``score``: its probability; ``top_k``: ``[(label, probability)]`` best first; ``probs``:
    ``[len(labels)]`` (binary models: ``[1 - p, p]``); ``windows``: per-window results when asked;
    ``error``: why the item could not be read (`Predictor.predict_many` with ``on_error="report"``);
    ``warnings``: one line each where the answer may be wrong (a truncated file, a clip far
    shorter than the model's window).
    """

    label: str | list[str]
    score: float
    top_k: list[tuple[str, float]]
    probs: np.ndarray
    windows: list[WindowPrediction] | None = None
    source: str | None = None
    duration_s: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def failed(cls, source: str, error: str) -> Prediction:
        return cls(label="", score=float("nan"), top_k=[], probs=np.zeros(0, np.float32), source=source, error=error)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.error is not None:
            return {**out, "error": self.error}
        out.update(
            label=self.label,
            score=self.score,
            duration_s=round(self.duration_s, 4),
            top_k=[{"label": k, "score": v} for k, v in self.top_k],
        )
        if self.windows is not None:
            out["windows"] = [w.to_dict() for w in self.windows]
        out["warnings"] = list(self.warnings)
        return out


class _TorchBackend:
    name = "torch"

    def __init__(self, model) -> None:
        self.model = model.eval()

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(wav).unsqueeze(1)).float().numpy()  # (B, K)


class _OnnxBackend:
    name = "onnx"

    def __init__(self, path: Path, *, threads: int | None, window: int) -> None:
        try:
            self.session = onnx_session(path, threads=threads or (os.cpu_count() or 1))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types; name the file
            raise CheckpointError(f"{path}: ONNX Runtime cannot load this file ({exc}); re-export the model") from None
        self.path = Path(path)
        inp = self.session.get_inputs()[0]
        samples = inp.shape[-1] if len(inp.shape) == 3 else None
        if inp.name != "wav" or len(inp.shape) != 3 or (isinstance(samples, int) and samples != window):
            raise CheckpointError(
                f"{path}: ONNX input {inp.name!r} of shape {inp.shape}; expected 'wav' [batch, 1, {window}] "
                "(the model's window); was it exported from another model?"
            )

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"wav": wav[:, None, :]})[0].astype(np.float32, copy=False)


class Predictor:
    """A model ready for inference; build one with `Predictor.load` (or `Predictor.from_model`).

    Attributes: ``labels``, ``sample_rate`` (Hz), ``window_s`` (the model's window, seconds),
    ``task`` ("multiclass" | "multilabel" | "binary"), ``config`` (the model's config.json),
    ``backend`` ("torch" | "onnx"), ``model_dir``.
    """

    def __init__(
        self,
        forward: Callable[[np.ndarray], np.ndarray],
        config: dict[str, Any],
        *,
        backend: str,
        model_dir: Path | None = None,
        model=None,
    ) -> None:
        self._forward = forward
        self.config = config
        self.backend = backend
        self.model_dir = model_dir
        self.model = model  # the torch Classifier (torch backend, or the one exported to ONNX)
        where = model_dir / "config.json" if model_dir else "config"
        spec = config.get("model", {})
        self.task = str(spec.get("task", "multiclass"))
        self.task_rule = get_task(self.task)
        self.sample_rate, self.window_s, self.window = _timing(config, where)
        self.labels = _check_labels(config, self.task, where)

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        backend: str = "torch",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
    ) -> Predictor:
        """Load a model directory (or a run directory: its ``best/``).

        ``backend="onnx"`` runs the graph at ``onnx_path``, or exports the model once to
        ``MODEL_DIR/.cache/`` (a temporary folder if that is read-only) and reuses it.
        ``threads``: intra-op threads (torch: ``torch.set_num_threads``; ONNX Runtime session).
        Raises `CheckpointError` naming the file for a missing or edited ``config.json`` and for
        weights that are not safetensors (pickles are never loaded).
        """
        check_choice("backend", backend, BACKENDS)
        if threads is not None:
            check_range("threads", threads, 1, 1024)
        model_dir = resolve_model_dir(model_dir)
        if backend == "onnx" and onnx_path is not None:
            config = read_config(model_dir)
            window = _timing(config, model_dir / "config.json")[2]
            return cls(
                _OnnxBackend(Path(onnx_path), threads=threads, window=window),
                config,
                backend="onnx",
                model_dir=model_dir,
            )
        model, config = load_model_dir(model_dir)
        if backend == "torch":
            if threads is not None:
                torch.set_num_threads(threads)
            return cls(_TorchBackend(model), config, backend="torch", model_dir=model_dir, model=model)
        window = _timing(config, model_dir / "config.json")[2]
        path = cached_onnx(model, model_dir, num_samples=window)
        return cls(
            _OnnxBackend(path, threads=threads, window=window), config, backend="onnx", model_dir=model_dir, model=model
        )

    @classmethod
    def from_model(cls, model, *, labels: Sequence[str], config: dict[str, Any] | None = None) -> Predictor:
        """Wrap an in-memory `Classifier` (e.g. at the end of training) with its ``labels``; the
        model is put in eval mode."""
        config = {
            "model": model.spec,
            "sample_rate": model.sample_rate,
            "clip_seconds": model.clip_seconds,
            **(config or {}),
            "labels": list(labels),
        }
        return cls(_TorchBackend(model), config, backend="torch", model=model)

    # ------------------------------------------------------------------ the batched call

    def logits(self, wav: np.ndarray) -> np.ndarray:
        """``wav`` float32 ``[B, T]`` at `sample_rate`, ``T`` = the window → logits ``[B, K]``."""
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        if wav.ndim != 2 or wav.shape[1] != self.window:
            raise ConfigError(
                f"logits: wav of shape {wav.shape}; expected [batch, {self.window}] (one window at {self.sample_rate} "
                "Hz)"
            )
        return self._forward(wav)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits ``[..., K]`` → probabilities ``[..., len(labels)]``: softmax (multiclass),
        sigmoid (multilabel), ``[1 - p, p]`` (binary)."""
        return self.task_rule.label_probabilities(logits)

    # ------------------------------------------------------------------ clips

    def predict(
        self,
        audio: AudioInput,
        *,
        sample_rate: int | None = None,
        top_k: int = 3,
        windows: bool = False,
        hop_s: float | None = None,
        name: str | None = None,
    ) -> Prediction:
        """Classify one clip: a path, the bytes of an audio file, or an array ``[T]`` / ``[C, T]``
        (then ``sample_rate=`` in Hz is required). Long clips: windows every ``hop_s`` seconds
        (default half a window), logits mean-pooled; ``windows=True`` also reports each window."""
        item = (audio, sample_rate) if _is_array(audio) else audio
        return self.predict_many([item], top_k=top_k, windows=windows, hop_s=hop_s, names=[name])[0]

    def predict_many(
        self,
        items: Iterable[AudioInput],
        *,
        batch_size: int = 64,
        top_k: int = 3,
        windows: bool = False,
        hop_s: float | None = None,
        progress: Callable[[int], None] | None = None,
        on_error: str = "raise",
        names: Sequence[str | None] | None = None,
    ) -> list[Prediction]:
        """`predict` over many items, their windows batched ``batch_size`` at a time across items.

        Items are paths, bytes, or ``(array, sample_rate)`` tuples. ``progress(n)`` is called with
        the number of items just finished. ``on_error="report"`` turns an unreadable item into a
        `Prediction` with ``error`` set (and goes on); ``"raise"`` stops at the first one.
        """
        check_range("batch_size", batch_size, 1, 1 << 20)
        check_range("top_k", top_k, 1, 1 << 20)
        check_choice("on_error", on_error, ("raise", "report"))
        hop = self._hop_samples(hop_s)
        results: list[Prediction | None] = []
        pending: dict[int, _Pending] = {}
        batch: list[tuple[int, np.ndarray]] = []

        def run(rows: list[tuple[int, np.ndarray]]) -> None:
            out = self.logits(np.stack([w for _, w in rows]))
            for (i, _), row in zip(rows, out, strict=False):
                p = pending[i]
                p.logits.append(row)
                if len(p.logits) == len(p.starts):
                    results[i] = self._finish(p, top_k=top_k, windows=windows)
                    del pending[i]
                    if progress:
                        progress(1)

        for i, item in enumerate(items):
            results.append(None)
            name = names[i] if names is not None and i < len(names) else None
            try:
                wav = to_waveform(item, sample_rate=None, target_rate=self.sample_rate, name=name)
            except WavetagError as exc:
                if on_error == "raise":
                    raise
                results[i] = Prediction.failed(name or _describe(item), str(exc))
                if progress:
                    progress(1)
                continue
            p = pending[i] = _Pending(wav, window_starts(len(wav.samples), self.window, hop))
            for start in p.starts.tolist():
                batch.append((i, cut_window(wav.samples, start, self.window)))
                if len(batch) == batch_size:
                    run(batch)
                    batch = []
        if batch:
            run(batch)
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------ events

    def detect(
        self,
        audio: AudioInput,
        *,
        sample_rate: int | None = None,
        hop_s: float | None = None,
        smooth_s: float | None = None,
        thresholds: dict[str, float] | float | None = None,
        refractory_s: float | None = None,
        batch_size: int = 64,
        name: str | None = None,
    ) -> list:
        """Events (`Event`: label, start_s, end_s, score) in a long recording; see
        `wavetag.inference.detector.detect`. Settings left ``None`` come from the model's
        ``config.json`` ``detection`` block (tuned at training), else the defaults there."""
        return detect(
            self,
            audio,
            sample_rate=sample_rate,
            hop_s=hop_s,
            smooth_s=smooth_s,
            thresholds=thresholds,
            refractory_s=refractory_s,
            batch_size=batch_size,
            name=name,
        )

    # ------------------------------------------------------------------ helpers

    @property
    def background_labels(self) -> list[str]:
        """Classes never reported as events: names starting with "_" (``_silence_``,
        ``_unknown_``) and, for a binary model, the negative class."""
        out = [x for x in self.labels if x.startswith("_")]
        if self.task_rule.negative_first and self.labels[0] not in out:
            out.append(self.labels[0])
        return out

    def _hop_samples(self, hop_s: float | None) -> int:
        if hop_s is None:
            return max(1, int(round(self.window * DEFAULT_HOP_FRACTION)))
        check_range("hop_s", hop_s, 1.0 / self.sample_rate, 3600.0)
        return max(1, int(round(hop_s * self.sample_rate)))

    def _finish(self, p: _Pending, *, top_k: int, windows: bool) -> Prediction:
        logits = np.stack(p.logits)  # (W, K)
        probs = self.probabilities(pool_window_logits(logits))
        label, score = self._decide(probs)
        order = np.argsort(-probs, kind="stable")[:top_k]
        per_window = None
        if windows:
            window_probs = self.probabilities(logits)
            per_window = []
            for start, wp in zip(p.starts.tolist(), window_probs, strict=False):
                w_label, w_score = self._decide(wp)
                start_s = start / self.sample_rate
                end_s = min(start + self.window, len(p.wav.samples)) / self.sample_rate
                per_window.append(WindowPrediction(start_s, end_s, w_label, w_score))
        warnings = list(p.wav.warnings)
        if len(p.wav.samples) < SHORT_CLIP_FRACTION * self.window:
            warnings.append(
                f"{p.wav.source}: {p.wav.duration_s:.3f} s of audio ({len(p.wav.samples)} samples), far "
                f"shorter than the model's {self.window_s:g} s window; it was zero-padded, so the answer "
                "may be wrong"
            )
        return Prediction(
            label=label,
            score=score,
            top_k=[(self.labels[j], float(probs[j])) for j in order],
            probs=probs,
            windows=per_window,
            source=p.wav.source,
            duration_s=p.wav.duration_s,
            warnings=warnings,
        )

    def _decide(self, probs: np.ndarray) -> tuple[str | list[str], float]:
        return self.task_rule.decide(probs, self.labels)

    def __repr__(self) -> str:
        return (
            f"Predictor({str(self.model_dir) if self.model_dir else '<in memory>'}, backend={self.backend!r}, "
            f"task={self.task!r}, labels={len(self.labels)}, sample_rate={self.sample_rate}, window_s={self.window_s})"
        )


@dataclass
class _Pending:
    wav: Waveform
    starts: np.ndarray
    logits: list[np.ndarray] = field(default_factory=list)


def _timing(config: dict[str, Any], where: Any) -> tuple[int, float, int]:
    """``(sample_rate Hz, window_s, window samples)`` from a model config, checked."""
    try:
        sample_rate = int(config["sample_rate"])
        window_s = float(config["clip_seconds"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{where}: field {exc} is missing or not a number (sample_rate in Hz, clip_seconds)"
        ) from None
    if sample_rate <= 0 or window_s <= 0:
        raise CheckpointError(f"{where}: sample_rate = {sample_rate}, clip_seconds = {window_s}; expected both > 0")
    return sample_rate, window_s, int(round(window_s * sample_rate))


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (hasattr(x, "detach") and hasattr(x, "numpy"))


def _describe(item: Any) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return "<bytes>" if isinstance(item, (bytes, bytearray)) else "<array>"


def _check_labels(config: dict[str, Any], task: str, where: Any) -> list[str]:
    spec = config.get("model", {})
    outputs = get_task(task).num_labels(int(spec.get("num_classes", 0) or 0))
    labels = config.get("labels")
    if labels is None:
        return [f"class_{i}" for i in range(outputs)]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(labels) != outputs:
        shown = labels if not isinstance(labels, list) else f"{len(labels)} entries"
        raise CheckpointError(
            f"{where}: field 'labels' is {shown}; expected a list of {outputs} class names for a {task} model "
            f"with num_classes {spec.get('num_classes')}; the file was edited or belongs to another model"
        )
    return list(labels)


def resolve_model_dir(path: str | Path) -> Path:
    """A run directory gives its ``best/``; anything else is taken as a model directory."""
    path = Path(path)
    if not (path / "config.json").is_file() and (path / "best" / "config.json").is_file():
        return path / "best"
    return path


def cached_onnx(model, model_dir: Path, *, num_samples: int) -> Path:
    """The ONNX export of ``model`` for ``num_samples``-sample windows, made once and reused.

    Named by a digest of the weights and the model spec, so an edited model is exported again;
    kept in ``MODEL_DIR/.cache/`` or, if that is not writable, the system's temporary folder.
    """
    h = hashlib.sha256(json.dumps(model.spec, sort_keys=True).encode())
    weights = model_dir / "model.safetensors"
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    name = f"model-{h.hexdigest()[:16]}-{num_samples}.onnx"
    last_error: OSError | None = None
    for folder in (model_dir / ONNX_CACHE_DIR, Path(tempfile.gettempdir()) / "wavetag-onnx"):
        target = folder / name
        if target.is_file():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.tmp-{os.getpid()}"
            export_onnx(model, tmp, num_samples=num_samples)
            os.replace(tmp, target)
            return target
        except OSError as exc:
            last_error = exc
    raise CheckpointError(
        f"{model_dir}: cannot write the ONNX export ({last_error}); pass onnx_path= to an exported file"
    )
