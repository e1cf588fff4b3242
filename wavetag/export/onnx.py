"""ONNX export of a model directory: waveform in, logits out, the front end inside the graph.

    MODEL_DIR --torch.onnx (opset 17; dynamic batch, dynamic length where the model allows)
      --> model.onnx  wav float32 [batch, 1, samples] at the model's rate -> logits [batch, K]
      --onnx.checker--> --ONNX Runtime vs PyTorch on test clips of the pack: max |diff| <= 1e-4
      --labels, sample rate, window, task written into metadata_props (the file describes itself)
      [--int8: `wavetag.export.quantize` (static QDQ calibrated on training clips of the pack)
        --> model.int8.onnx, float vs int8 compared, with a verdict: does int8 pay?]
      --> ExportReport

Clips for the parity check come from the test split of the pack (the ``--pack`` argument, else
the one recorded in ``config.json`` under ``pack.path``); without a pack, seeded noise is used and
the report says so. Dynamic length is kept only when PyTorch runs the model at two lengths and
ONNX Runtime agrees with it at both; otherwise the graph takes one window and the report says why.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag import __version__
from wavetag.config import check_range
from wavetag.data.pack import Pack
from wavetag.errors import CheckpointError, WavetagError
from wavetag.evaluate.run import check_model_fits_pack
from wavetag.export.quantize import VariantStats, calibration_clips, compare_variants, int8_verdict, quantize_int8
from wavetag.inference.predictor import resolve_model_dir
from wavetag.models import load_model_dir
from wavetag.models.onnx_check import (
    PARITY_ATOL,
    check_graph,
    export_onnx,
    noise_clips,
    onnx_session,
    parity,
    write_metadata,
)
from wavetag.tasks import get_task

DEFAULT_CHECK_CLIPS = 64
LENGTH_PROBE_WINDOWS = 2  # dynamic length is verified at one window and at this many windows
NOISE_SEED = 0
NOISE_RMS = 0.1


@dataclass
class ExportReport:
    """What `export` wrote and measured."""

    model_dir: Path
    onnx_path: Path
    model_name: str
    num_samples: int  # one window at the model's rate
    sample_rate: int
    dynamic_length: bool
    max_abs_diff: float  # ONNX Runtime vs PyTorch, float graph
    parity_clips: int
    parity_source: str  # "test split of PACK" | "seeded noise"
    atol: float = PARITY_ATOL
    int8_path: Path | None = None
    int8_pays: bool | None = None  # int8 no slower than float and within one point of its accuracy
    int8_verdict: str | None = None  # the sentence the table ends with
    variants: list[VariantStats] = field(default_factory=list)  # float (and int8) measured
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "onnx_path": str(self.onnx_path),
            "model": self.model_name,
            "num_samples": self.num_samples,
            "sample_rate": self.sample_rate,
            "dynamic_length": self.dynamic_length,
            "max_abs_diff": self.max_abs_diff,
            "atol": self.atol,
            "parity_clips": self.parity_clips,
            "parity_source": self.parity_source,
            "int8_path": str(self.int8_path) if self.int8_path else None,
            "int8_pays": self.int8_pays,
            "int8_verdict": self.int8_verdict,
            "variants": [v.to_dict() for v in self.variants],
            "notes": list(self.notes),
        }


def export(
    model_dir: str | Path,
    out: str | Path | None = None,
    *,
    int8: bool = False,
    pack: Any = None,
    check_clips: int = DEFAULT_CHECK_CLIPS,
    latency_runs: int = 50,
) -> ExportReport:
    """Export the model in ``model_dir`` (or a run directory's ``best/``) to ONNX.

    ``out``: the float graph (default ``MODEL_DIR/model.onnx``); ``int8=True`` also writes
    ``<out stem>.int8.onnx``. ``pack``: a pack path or `Pack` for parity clips and test accuracy
    (default: ``config.json`` ``pack.path``). Raises `WavetagError` when the export fails, the
    checker rejects the graph, or ONNX Runtime differs from PyTorch by more than 1e-4.
    """
    check_range("check_clips", check_clips, 1, 100_000)
    check_range("latency_runs", latency_runs, 1, 100_000)
    model_dir = resolve_model_dir(model_dir)
    model, config = load_model_dir(model_dir)
    out = Path(out) if out is not None else model_dir / "model.onnx"
    window = int(round(model.clip_seconds * model.sample_rate))
    notes: list[str] = []
    the_pack, pack_note = open_pack(pack, config, model, model_dir)
    if pack_note:
        notes.append(pack_note)
    calibration = None
    if int8:  # checked before anything is written: int8 scales need the pack's own audio
        calibration = calibration_clips(the_pack, window)

    # Everything is written beside ``out`` first and moved over the old files only when every
    # check has passed: a failed export leaves an earlier model.onnx (and .int8.onnx) untouched.
    stage = out.with_name(f".new-{os.getpid()}-{out.name}")
    try:
        dynamic, length_note = write_graph(model, stage, num_samples=window)
        if length_note:
            notes.append(length_note)
        check_graph(stage)
        clips, source = parity_clips(the_pack, window, check_clips)
        diff = parity(model, stage, clips[:, None, :])
        if not diff <= PARITY_ATOL:
            raise WavetagError(
                f"{out}: ONNX Runtime differs from PyTorch by up to {diff:.3g} on {len(clips)} clips ({source}); "
                f"expected at most {PARITY_ATOL:g}. Nothing was written (an earlier {out.name} is kept); report the "
                f"model ({model.name}) and this figure"
            )
        write_metadata(stage, describe(model, config, dynamic=dynamic))
        report = ExportReport(
            model_dir, out, model.name, window, model.sample_rate, dynamic, diff, len(clips), source, notes=notes
        )
        if int8:
            _add_int8(report, model, stage, calibration, the_pack, window, clips, latency_runs)
        os.replace(stage, out)
    finally:
        stage.unlink(missing_ok=True)
        int8_path(stage).unlink(missing_ok=True)
    return report


def _add_int8(report: ExportReport, model, stage: Path, calibration, pack, window: int, clips, runs: int) -> None:
    """Quantise the staged float graph, measure both files and move the int8 one into place."""
    clips_used, split = calibration
    report.int8_path = int8_path(report.onnx_path)
    count, total = quantize_int8(stage, int8_path(stage), clips_used)
    report.notes.append(
        f"int8: static QDQ, {count} of {total} Conv/MatMul/Gemm layers after the front end with int8 weights "
        f"(per channel) and uint8 activations calibrated on {len(clips_used)} {split} clips; front end in float"
    )
    report.variants = compare_variants(
        [("float", stage), ("int8", int8_path(stage))], model=model, pack=pack, window=window, clips=clips, runs=runs
    )
    report.int8_pays, report.int8_verdict = int8_verdict(*report.variants)
    write_metadata(int8_path(stage), {"wavetag.int8_verdict": report.int8_verdict})
    for variant, final in zip(report.variants, (report.onnx_path, report.int8_path), strict=True):
        variant.path = final
    os.replace(int8_path(stage), report.int8_path)


def int8_path(float_path: Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    return float_path.with_name(float_path.stem + ".int8" + float_path.suffix)


# ---------------------------------------------------------------------------- the pack


def open_pack(pack: Any, config: dict[str, Any], model, model_dir: Path):
    """``(Pack | None, note)``: the pack given, else the one in ``config.json``; a pack given by
    the caller must fit the model (`DataError` otherwise), a recorded one that is gone gives a note."""
    if pack is not None:
        pack = pack if isinstance(pack, Pack) else Pack.open(pack)
        check_model_fits_pack(model, config, pack, where=model_dir)
        return pack, None
    recorded = (config.get("pack") or {}).get("path") if isinstance(config.get("pack"), dict) else None
    if not recorded:
        return (
            None,
            f"{model_dir / 'config.json'} names no pack: parity checked on seeded noise, accuracy not measured (pass "
            "--pack)",
        )
    try:
        found = Pack.open(recorded)
        check_model_fits_pack(model, config, found, where=model_dir)
    except WavetagError as exc:
        return (
            None,
            f"the training pack {recorded} cannot be used ({exc}): parity checked on seeded noise, accuracy not "
            "measured (pass --pack)",
        )
    return found, None


def parity_clips(pack, window: int, count: int) -> tuple[np.ndarray, str]:
    """Up to ``count`` clips ``[N, window]`` float32: the first window of each test clip
    (zero-padded), or seeded noise without a pack (or with an empty test split)."""
    if pack is not None:
        indices = pack.split_indices("test")[:count]
        if len(indices):
            clips = np.zeros((len(indices), window), np.float32)
            for row, i in enumerate(indices.tolist()):
                x = pack.waveform(i)[:window]
                clips[row, : len(x)] = x
            return clips, f"test split of {pack.path}"
    return noise_clips(count, window, seed=NOISE_SEED, rms=NOISE_RMS), "seeded noise"


# ---------------------------------------------------------------------------- the graph


def write_graph(model, path: Path, *, num_samples: int) -> tuple[bool, str | None]:
    """Write ``model`` to ``path`` with a dynamic batch axis, and a dynamic samples axis when
    PyTorch and ONNX Runtime agree at one and at `LENGTH_PROBE_WINDOWS` windows. Returns
    ``(dynamic_length, note)``; the note says why the length was fixed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        reason = _length_reason(model, num_samples)
        if reason is None:
            export_onnx(model, tmp, num_samples=num_samples, dynamic_length=True)
            reason = _dynamic_mismatch(model, tmp, num_samples)
        if reason is not None:
            export_onnx(model, tmp, num_samples=num_samples, dynamic_length=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if reason is None:
        return True, None
    return False, f"fixed length {num_samples} samples ({num_samples / model.sample_rate:g} s): {reason}"


def _length_reason(model, num_samples: int) -> str | None:
    """Why the model cannot take another length (its layer sizes depend on it), or None."""
    longer = num_samples * LENGTH_PROBE_WINDOWS
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, 1, longer))
    except Exception as exc:  # noqa: BLE001 - any failure means "not length-agnostic"
        return f"the model does not run on {longer} samples in PyTorch ({type(exc).__name__})"
    if tuple(out.shape) != (1, model.head.out_features):
        return f"the model gives logits of shape {tuple(out.shape)} on {longer} samples"
    return None


def _dynamic_mismatch(model, path: Path, num_samples: int) -> str | None:
    """Run the dynamic-length graph at two lengths against PyTorch; a reason if they differ."""
    rng = np.random.default_rng(NOISE_SEED)
    session = onnx_session(path)
    for length in (num_samples, num_samples * LENGTH_PROBE_WINDOWS):
        wav = (NOISE_RMS * rng.standard_normal((2, 1, length))).astype(np.float32)
        try:
            diff = parity(model, session, wav)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            return f"ONNX Runtime cannot run the dynamic-length graph on {length} samples ({type(exc).__name__})"
        if not diff <= PARITY_ATOL:
            return f"the dynamic-length graph differs from PyTorch by {diff:.3g} at {length} samples"
    return None


# ---------------------------------------------------------------------------- metadata


def describe(model, config: dict[str, Any], *, dynamic: bool) -> dict[str, str]:
    """The ``metadata_props`` written into the file: enough to use it without the model directory."""
    window = int(round(model.clip_seconds * model.sample_rate))
    labels = list(config.get("labels") or [f"class_{i}" for i in range(model.head.out_features)])
    return {
        "wavetag.labels": json.dumps(labels),
        "wavetag.sample_rate": str(model.sample_rate),
        "wavetag.window_s": repr(model.clip_seconds),
        "wavetag.task": model.task,
        "wavetag.model": model.name,
        "wavetag.num_params": str(model.num_params()),
        "wavetag.frontend": json.dumps(model.frontend.to_dict()),
        "wavetag.input": (
            f"wav: float32 [batch, 1, {'samples' if dynamic else window}], mono in [-1, 1] at "
            f"{model.sample_rate} Hz" + (f"; trained on windows of {window}" if dynamic else "")
        ),
        "wavetag.output": f"logits: float32 [batch, {model.head.out_features}]; " + get_task(model.task).output_rule,
        "wavetag.version": __version__,
    }


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The wavetag fields of an exported file: labels (list), sample_rate (int), window_s, task, ...

    Raises `CheckpointError` when the file has none (not written by `export`)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors come in several types
        raise CheckpointError(f"{path}: not a readable ONNX file ({exc})") from None
    props = {p.key[len("wavetag.") :]: p.value for p in graph.metadata_props if p.key.startswith("wavetag.")}
    if "labels" not in props:
        raise CheckpointError(f"{path}: no wavetag metadata (labels, sample_rate); export it with 'wavetag export'")
    out: dict[str, Any] = dict(props)
    out["labels"] = json.loads(props["labels"])
    out["sample_rate"] = int(props["sample_rate"])
    out["window_s"] = float(props["window_s"])
    if "frontend" in props:
        out["frontend"] = json.loads(props["frontend"])
    return out
