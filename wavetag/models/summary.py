"""The model table behind ``wavetag models``: name, family, input kind, default front end,
parameters and MACs per clip. Models are built on PyTorch's ``meta`` device (shapes only, no
memory, no initialisation), so listing all of them takes seconds."""

from __future__ import annotations

from typing import Any

import torch

from wavetag.errors import ConfigError
from wavetag.models.factory import create_model
from wavetag.models.registry import list_families, list_models, model_info
from wavetag.registry import unknown_name_message


def frontend_label(spec: dict[str, Any]) -> str:
    """``{"name": "logmel", "n_mels": 40}`` → ``"logmel(n_mels=40)"``."""
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k not in ("name", "sample_rate"))
    return f"{spec['name']}({args})" if args else spec["name"]


def frontend_short(spec: dict[str, Any]) -> str:
    """A compact label for tables: ``"logmel 40"``, ``"mfcc 10/40 40/20ms"``, ``"mulaw 256 1-hot"``."""
    name = spec["name"]
    if name == "mfcc":
        label = f"mfcc {spec.get('n_mfcc', 40)}/{spec.get('n_mels', 40)}"
    elif name == "logmel":
        label = f"logmel {spec.get('n_mels', 40)}"
    elif name == "mulaw":
        label = f"mulaw {spec.get('quantization_channels', 256)}" + (" 1-hot" if spec.get("one_hot", True) else "")
    else:
        label = name
    if "win_s" in spec or "hop_s" in spec:
        label += f" {1000 * spec.get('win_s', 0.03):g}/{1000 * spec.get('hop_s', 0.01):g}ms"
    return label


def model_table(*, family: str | None = None, num_classes: int = 12, clip_seconds: float = 1.0) -> list[dict[str, Any]]:
    """One row per registered model (of ``family`` when given): ``name``, ``family``,
    ``input_kind``, ``frontend``, ``params`` (for ``num_classes``), ``macs`` (per clip of
    ``clip_seconds``, front end excluded; see `Classifier.macs`), ``pretrained``, ``source``."""
    if family is not None and family not in list_families():
        raise ConfigError(unknown_name_message("model family", family, list_families()))
    rows = []
    for name in list_models(family):
        info = model_info(name)
        with torch.device("meta"):
            model = create_model(name, num_classes=num_classes, clip_seconds=clip_seconds)
            params, macs = model.num_params(), model.macs(clip_seconds)
        rows.append(
            {
                "name": name,
                "family": info["family"],
                "input_kind": info["input_kind"],
                "frontend": frontend_label(info["default_frontend"]),
                "params": params,
                "macs": macs,
                "pretrained": info["pretrained"],
                "source": info["source"],
            }
        )
    return rows


def human(n: float) -> str:
    """``9232 → "9.23k"``, ``85919328 → "85.9M"``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows of `model_table` as aligned plain text (``*``: loads pretrained weights; ``+`` after
    the input kind: also takes any front end, spectral features read as channels)."""
    header = ("name", "family", "input", "default front end", "params", "MACs")
    body = [
        (
            r["name"] + (" *" if r["pretrained"] else ""),
            r["family"],
            r["input_kind"] + ("+" if model_info(r["name"]).get("features_as_channels") else ""),
            frontend_short(model_info(r["name"])["default_frontend"]),
            human(r["params"]),
            human(r["macs"]),
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    right = {4, 5}

    def line(cells: tuple) -> str:
        pairs = enumerate(zip(cells, widths, strict=False))
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in pairs).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, body)])
