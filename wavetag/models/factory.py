"""``create_model``: name + task + front end → a `Classifier` (timm ``_factory.py`` in spirit).

``None`` keyword arguments are dropped, so a CLI flag left unset means "the model's default".
The front end is resolved here, its output kind is checked against the backbone's input kind,
and the backbone is built for the front end's per-clip output shape (so dense heads after a
flatten and transformer position tables get their sizes from the clip length).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavetag.config import check_value
from wavetag.errors import ConfigError
from wavetag.frontends import FrontEnd, frontend_from_dict
from wavetag.models.base import Classifier
from wavetag.models.registry import MODELS
from wavetag.tasks import get_task

DEFAULT_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class InputSpec:
    """What a backbone receives per clip: ``kind`` ("waveform" | "sequence" | "image"),
    ``shape`` without the batch axis (``(1, T)``, ``(C, T)`` or ``(C, F, frames)``) and the
    front end's ``sample_rate`` in Hz."""

    kind: str
    shape: tuple[int, ...]
    sample_rate: int


def create_model(
    name: str,
    *,
    num_classes: int,
    task: str = "multiclass",
    frontend: str | dict | FrontEnd | None = None,
    sample_rate: int | None = None,
    clip_seconds: float = 1.0,
    pretrained: str | Path | None = None,
    **kwargs: Any,
) -> Classifier:
    """Build model ``name`` for ``num_classes`` classes.

    ``task``: "multiclass" (softmax), "multilabel" (sigmoid per class) or "binary" (one logit;
    ``num_classes`` 1 or 2). ``frontend``: None = the family's default, a name (that front end with
    its defaults), a `FrontEnd.to_dict` mapping, or a `FrontEnd`. ``sample_rate`` (Hz) defaults to
    the front end's, else 16000; ``clip_seconds`` sizes layers that depend on the input length.
    ``pretrained``: a local weights file or directory, loaded into the backbone with a fresh head
    (families marked * in ``wavetag models``: torchvision ImageNet files for the image networks;
    official or Hugging Face AST, wav2vec2 and HuBERT checkpoints, base models included; the CLI's
    ``wavetag train --pretrained PATH``). Nothing is downloaded; no pickle is run. Other keyword
    arguments are the family's options; a model's ``spec`` round-trips: ``create_model(**m.spec)``.

    >>> import torch
    >>> m = create_model("bc_resnet_1", num_classes=12)
    >>> m(torch.zeros(2, 1, 16000)).shape
    torch.Size([2, 12])
    """
    nested = kwargs.pop("kwargs", None) or {}
    kwargs = {k: v for k, v in {**nested, **kwargs}.items() if v is not None}
    get_task(task).num_outputs(num_classes)  # validates the task and num_classes for it
    if not 0.05 <= float(clip_seconds) <= 600:
        raise ConfigError(f"clip_seconds = {clip_seconds!r}; expected 0.05 to 600 seconds")
    factory = MODELS.get(name)
    return factory(
        num_classes=num_classes,
        task=task,
        frontend=frontend,
        sample_rate=sample_rate,
        clip_seconds=float(clip_seconds),
        pretrained=pretrained,
        **kwargs,
    )


def resolve_frontend(frontend: str | dict | FrontEnd | None, *, default: dict, sample_rate: int | None) -> FrontEnd:
    """A `FrontEnd` from ``create_model``'s ``frontend`` argument (see there)."""
    if isinstance(frontend, FrontEnd):
        if sample_rate is not None and frontend.sample_rate != sample_rate:
            raise ConfigError(
                f"front end {frontend.name!r} runs at {frontend.sample_rate} Hz but sample_rate = {sample_rate}; "
                "build the front end at the data's sample rate"
            )
        return frontend
    if frontend is None:
        spec = dict(default)
    elif isinstance(frontend, str):
        spec = {"name": frontend}
    elif isinstance(frontend, dict):
        spec = dict(frontend)
    else:
        raise ConfigError(f"frontend = {frontend!r}; expected a name, a mapping or a FrontEnd")
    if sample_rate is not None:
        if spec.get("sample_rate", sample_rate) != sample_rate:
            raise ConfigError(
                f"front end sample_rate = {spec['sample_rate']} but sample_rate = {sample_rate}; give one value"
            )
        spec["sample_rate"] = sample_rate
    if "sample_rate" not in spec:
        spec["sample_rate"] = DEFAULT_SAMPLE_RATE
    return frontend_from_dict(spec)


def build_classifier(
    variant: str,
    backbone_cls: Callable[..., nn.Module],
    arch: dict[str, Any],
    *,
    num_classes: int,
    task: str = "multiclass",
    frontend: str | dict | FrontEnd | None = None,
    sample_rate: int | None = None,
    clip_seconds: float = 1.0,
    pretrained: str | Path | None = None,
    load_pretrained: Callable[[Classifier, Path], None] | None = None,
    default_frontend: dict | None = None,
    input_kind: str | None = None,
    spec_kwargs: dict | None = None,
    **kwargs: Any,
) -> Classifier:
    """What each family's ``_create_<family>`` calls: resolve and check the front end, build
    ``backbone_cls(InputSpec, **{**arch, **kwargs})``, wrap it in a `Classifier`, then load
    ``pretrained`` weights with ``load_pretrained``. ``default_frontend`` / ``input_kind``
    override the registry's metadata (the WaveNet family derives them from its options);
    ``spec_kwargs`` (default: ``kwargs``) is what the model's ``spec`` records."""
    meta = MODELS.meta(variant)
    kind = input_kind or meta["input_kind"]
    fe = resolve_frontend(frontend, default=default_frontend or meta["default_frontend"], sample_rate=sample_rate)
    if meta.get("features_as_channels"):  # a 1-D backbone: (B, C, T) as it comes, (B, C, F, T) as C·F channels
        kind = fe.output_kind
    if fe.output_kind != kind:
        raise ConfigError(
            f"model {variant!r} takes {kind} input but front end {fe.name!r} gives {fe.output_kind} features; "
            f"use --frontend {(default_frontend or meta['default_frontend'])['name']}"
        )
    num_samples = int(round(fe.sample_rate * clip_seconds))
    spec = InputSpec(kind=kind, shape=tuple(fe.output_shape(num_samples)), sample_rate=fe.sample_rate)
    options = {**arch, **kwargs}
    check_options(variant, backbone_cls, options)
    check_option_types(variant, backbone_cls, kwargs)
    backbone = backbone_cls(spec, **options)
    model = Classifier(
        fe,
        backbone,
        name=variant,
        num_classes=num_classes,
        task=task,
        input_kind=kind,
        clip_seconds=clip_seconds,
        spec_kwargs=jsonable(dict(kwargs if spec_kwargs is None else spec_kwargs)),
    )
    if pretrained is not None:
        if load_pretrained is None:
            able = ", ".join(n for n in MODELS.names() if MODELS.meta(n)["pretrained"])
            raise ConfigError(f"model {variant!r} cannot load pretrained weights (models that can: {able})")
        load_pretrained(model, Path(pretrained))
    return model


def check_options(variant: str, backbone_cls: Callable, options: dict[str, Any]) -> None:
    """Refuse options the backbone does not take, listing those it does."""
    params = inspect.signature(backbone_cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n in params if n != "inp"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"model {variant!r} has no option {', '.join(repr(u) for u in unknown)} "
            f"(options: {', '.join(known) or 'none'})"
        )


def check_option_types(variant: str, backbone_cls: Callable, options: dict[str, Any]) -> None:
    """Check the user's model options (``--model-set``, ``model_args``, ``config.json``
    ``kwargs``) strictly against the backbone's annotations: ``dropout: "high"`` or
    ``base_channels: 8.5`` is a `ConfigError` naming the option, the value and the type."""
    try:
        hints = typing.get_type_hints(backbone_cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check against
        return
    for key, value in options.items():
        if key in hints:
            check_value(f"model {variant!r}: option {key}", value, hints[key])


def jsonable(obj: Any) -> Any:
    """Tuples → lists, paths → str, recursively (what ``config.json`` can hold)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def probe_shape(module: nn.Module, shape: tuple[int, ...], *, what: str) -> tuple[int, ...]:
    """Per-clip output shape of ``module`` on a zero input of per-clip ``shape`` (eval mode, no
    grad); a `ConfigError` naming ``what`` when the input is too small for its strides/kernels."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(1, *shape))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"{what}: input of per-clip shape {tuple(shape)} is too small ({first}); use a longer clip_seconds "
            "or a front end with more bands/frames"
        ) from None
    finally:
        module.train(was_training)
    return tuple(out.shape[1:])
