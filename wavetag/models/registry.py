"""The model registry: one entry per named variant, with metadata for listings and the CLI.

Each family file registers its variants as two-line factories (timm ``convmixer.py`` style)::

    @register_model("bc_resnet_1", family="bc_resnet", input_kind="image",
                    default_frontend={"name": "logmel", "n_mels": 40}, source=SOURCE)
    def bc_resnet_1(**kwargs) -> Classifier:
        return _create_bc_resnet("bc_resnet_1", dict(base_channels=8), **kwargs)

`create_model` (in `wavetag.models.factory`) looks the name up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wavetag.registry import Registry

INPUT_KINDS = ("waveform", "sequence", "image")

MODELS: Registry[Callable[..., Any]] = Registry("model")


def register_model(
    name: str,
    *,
    family: str,
    input_kind: str,
    default_frontend: dict[str, Any],
    source: str,
    pretrained: bool = False,
    features_as_channels: bool = False,
) -> Callable:
    """Decorator adding a variant factory. ``input_kind``: what its backbone takes ("waveform",
    "sequence" or "image"); ``default_frontend``: a `frontend_from_dict` mapping; ``source``: the
    paper / repository it follows; ``pretrained``: whether ``pretrained=PATH`` is supported;
    ``features_as_channels``: a 1-D backbone that also takes any front end's output, a
    ``[B, C, F, frames]`` feature read as ``C · F`` channels over frames (the 8-kHz notebook's
    "STFT 1-D CNN")."""
    assert input_kind in INPUT_KINDS, input_kind
    assert "name" in default_frontend, default_frontend
    return MODELS.register(
        name,
        family=family,
        input_kind=input_kind,
        default_frontend=dict(default_frontend),
        source=source,
        pretrained=pretrained,
        features_as_channels=features_as_channels,
    )


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted; only those of ``family`` when given."""
    names = MODELS.names()
    if family is not None:
        names = [n for n in names if MODELS.meta(n)["family"] == family]
    return names


def list_families() -> list[str]:
    return sorted({MODELS.meta(n)["family"] for n in MODELS.names()})


def model_info(name: str) -> dict[str, Any]:
    """``{"name", "family", "input_kind", "default_frontend", "source", "pretrained",
    "features_as_channels"}`` for ``name``
    (a `ConfigError` suggesting close names when it is unknown)."""
    return {"name": name, **MODELS.meta(name)}
