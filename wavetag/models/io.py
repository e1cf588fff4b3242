"""Model directories: ``config.json`` + ``model.safetensors``, and nothing that can run code.

``config.json`` holds the model's ``spec`` (enough to rebuild it with `create_model`), what the
caller adds (labels, thresholds, ...) and the versions that wrote it. Both files are written
atomically (temporary name, then ``os.replace``); loading rebuilds the model from ``config.json``
alone and loads the weights with strict name and shape checks. Pickles (``torch.save`` files) are
refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from wavetag import __version__
from wavetag.errors import CheckpointError, WavetagError
from wavetag.jsonfile import read_json
from wavetag.models.base import Classifier
from wavetag.models.factory import create_model

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "wavetag-model"
FORMAT_VERSION = 1
RESERVED_KEYS = ("format", "format_version", "model", "versions")
SPEC_FIELDS = ("name", "num_classes", "task", "frontend", "kwargs")
PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save zip archive, legacy pickle protocol 2+


def save_model_dir(model: Classifier, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to directory ``path`` (created if needed); returns the path.

    ``extra``: JSON-able fields stored beside the spec (labels, thresholds, ...); the keys
    ``format``, ``format_version``, ``model`` and ``versions`` are reserved.
    """
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_KEYS))
    if clash:
        raise CheckpointError(f"save_model_dir: extra field(s) {', '.join(clash)} are reserved; rename them")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    spec = model.spec
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": spec,
        "sample_rate": spec["sample_rate"],
        "clip_seconds": spec["clip_seconds"],
        **extra,
        "versions": _versions(),
    }
    try:
        text = json.dumps(config, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save_model_dir: extra fields are not JSON-serialisable ({exc})") from None
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(path / WEIGHTS_NAME, lambda tmp: save_file(tensors, str(tmp), metadata={"format": FORMAT}))
    _atomic_write(path / CONFIG_NAME, lambda tmp: tmp.write_text(text + "\n"))
    return path


def load_model_dir(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the model saved in directory ``path``; returns ``(model in eval mode, config)``.

    Raises `CheckpointError` when ``config.json`` or ``model.safetensors`` is missing, unreadable,
    a pickle, or when the weights do not match the model that ``config.json`` describes.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(
            f"{path}: not a model directory (expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    config = read_config(path)
    spec = config["model"]
    try:
        model = create_model(**spec)
    except WavetagError as exc:
        raise CheckpointError(
            f"{path / CONFIG_NAME}: field 'model' does not describe a buildable model ({exc})"
        ) from None
    except TypeError as exc:
        raise CheckpointError(f"{path / CONFIG_NAME}: field 'model' has an unexpected entry ({exc})") from None
    state = read_weights(path / WEIGHTS_NAME)
    load_state_strict(model, state, where=path / WEIGHTS_NAME)
    return model.to(map_location).eval(), config


def read_config(path: Path) -> dict[str, Any]:
    """Parse and check ``path/config.json``."""
    file = path / CONFIG_NAME
    if not file.is_file():
        raise CheckpointError(
            f"{file}: missing; a model directory holds {CONFIG_NAME} and {WEIGHTS_NAME} (see save_model_dir)"
        )
    config = read_json(file, error=CheckpointError, advice="the file is truncated or was edited")
    if config.get("format") != FORMAT:
        raise CheckpointError(
            f"{file}: field 'format' is {config.get('format')!r}, expected {FORMAT!r}; not a wavetag model directory"
        )
    spec = config.get("model")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{file}: field 'model' is missing or not an object")
    for field in SPEC_FIELDS:
        if field not in spec:
            raise CheckpointError(
                f"{file}: field 'model.{field}' is missing; the file was edited or written by another tool"
            )
    if not isinstance(spec["frontend"], dict) or "name" not in spec["frontend"]:
        raise CheckpointError(f"{file}: field 'model.frontend' must be an object with a 'name'")
    if not isinstance(spec["kwargs"], dict):
        raise CheckpointError(f"{file}: field 'model.kwargs' must be an object")
    return config


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; refuses pickles and anything else."""
    if not file.is_file():
        others = sorted(p.name for p in file.parent.glob("*") if p.suffix in (".pt", ".pth", ".bin", ".ckpt"))
        hint = (
            f" (found {', '.join(others)}: pickled checkpoints are not loaded; convert them to safetensors)"
            if others
            else ""
        )
        raise CheckpointError(f"{file}: missing{hint}")
    with open(file, "rb") as fh:
        head = fh.read(9)
    if head[8:9] != b"{":  # safetensors: u64 header length, then a JSON header
        if head.startswith(PICKLE_MAGIC):
            raise CheckpointError(
                f"{file}: is a pickle/zip (torch.save) file, which can run code when loaded; refusing it. "
                "Save the model with save_model_dir"
            )
        raise CheckpointError(f"{file}: not a safetensors file (bad header); the file is truncated or not a model")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from None


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, where: Path | str) -> None:
    """``model.load_state_dict(state)`` with errors that name the tensors and shapes."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: tensors do not match the model built from {CONFIG_NAME} "
            f"(missing: {_few(missing)}; unexpected: {_few(unexpected)}); were the files mixed or edited?"
        )
    for key in own:  # the model's order, so the first mismatch reported is the earliest layer
        value = state[key]
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(value.shape)} but the model built from {CONFIG_NAME} expects "
                f"{tuple(own[key].shape)}; config.json (model.num_classes / model.kwargs / model.frontend) does not "
                "match the weights — was it edited?"
            )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def _few(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def _atomic_write(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _versions() -> dict[str, str]:
    return {"wavetag": __version__, "torch": torch.__version__.split("+")[0]}
