"""Checkpoints for exact resume, written so that a kill at any moment loses at most one interval.

``RUN/last/`` is a model directory (``config.json`` + ``model.safetensors``) plus
``train_state.json`` (progress counters, best metric, patience) and ``optimizer.safetensors``
(optimizer tensors; its hyper-parameters go in the JSON). No pickle anywhere.

A checkpoint is first written completely to ``last.tmp/``; then ``last/`` is renamed to
``last.old/``, ``last.tmp/`` to ``last/``, and ``last.old/`` is removed. A kill between the two
renames leaves ``last.old/`` complete, and `find_checkpoint` takes it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from wavetag.errors import CheckpointError
from wavetag.models import load_model_dir, save_model_dir
from wavetag.models.io import read_weights

STATE_NAME = "train_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"


def save_checkpoint(
    target: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    *,
    extra: dict[str, Any],
) -> None:
    """Write model + optimizer + ``state`` to ``target`` (e.g. ``RUN/last``) atomically."""
    tmp = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model_dir(model, tmp, extra=extra)
    tensors, meta = optimizer_to_safe(optimizer)
    save_file(tensors, str(tmp / OPTIMIZER_NAME))
    (tmp / STATE_NAME).write_text(json.dumps({**state, "optimizer": meta}, indent=1, allow_nan=False))
    _fsync_dir(tmp)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def save_model_copy(target: Path, model: torch.nn.Module, *, extra: dict[str, Any]) -> None:
    """Write a plain model directory (e.g. ``RUN/best``) with the same rename dance."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model_dir(model, tmp, extra=extra)
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint of ``run_dir``: ``last/``, else ``last.old/``."""
    for name in ("last", "last.old"):
        path = run_dir / name
        if (path / STATE_NAME).is_file() and (path / OPTIMIZER_NAME).is_file():
            return path
    raise CheckpointError(
        f"{run_dir}: no complete checkpoint to resume from (expected last/ with {STATE_NAME} and "
        f"{OPTIMIZER_NAME}); the run was stopped before its first checkpoint; start it again without --resume"
    )


def load_checkpoint(path: Path, optimizer_factory) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict[str, Any]]:
    """Model, optimizer (built by ``optimizer_factory(model)``, then loaded) and progress state."""
    run_dir = path.parent
    advice = (
        f"the checkpoint in {path} is damaged and cannot be resumed; best/ (if there) is still a usable model. "
        f"Start the run again with --overwrite -o {run_dir} (the old run is kept until the new one's first "
        f"checkpoint), or train into another --out"
    )
    try:
        model, _ = load_model_dir(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {advice}") from None
    file = path / STATE_NAME
    try:
        state = json.loads(file.read_text())
        file = path / OPTIMIZER_NAME
        tensors = read_weights(file)
        optimizer = optimizer_factory(model)
        optimizer.load_state_dict(optimizer_from_safe(tensors, state.pop("optimizer")))
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {advice}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{file}: unreadable ({type(exc).__name__}: {exc}); {advice}") from None
    return model, optimizer, state


def optimizer_to_safe(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able rest."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_safe(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, key = flat.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())
