"""WaveNet-style classifier: a stack of dilated causal convolutions on μ-law audio.

van den Oord et al., "WaveNet: A Generative Model for Raw Audio", arXiv 1609.03499; layer layout
and the classic ``wavenet_params.json`` of ibab/tensorflow-wavenet (``wavenet/model.py``). Input:
μ-law one-hot ``[B, Q, T]`` (front end ``mulaw``), or with ``scalar_input`` the companded scalar
``[B, 1, T]`` through an initial causal filter of ``initial_filter_width``. An initial causal conv
(no bias) to ``residual_channels``; per dilation a gated unit ``tanh(W_f * x) · σ(W_g * x)``
(filter width ``filter_width``, ``dilation_channels``), a 1×1 skip output and a 1×1 residual
output added to the input; the summed skips → ReLU → 1×1 → ReLU → average over time (the
embedding, ``skip_channels`` wide) → dropout → dense head with L2 (``l2``, returned by
`Classifier.regularization_loss`). Defaults (issue 4): filter width 2, dilations 1..512 twice,
16 residual / dilation / skip channels, 256 levels.

``create_model("wavenet_classifier", params="wavenet_params.json", ...)`` reads the params file
(its keys below); explicit keyword arguments win over the file, the file over the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavetag.errors import ConfigError
from wavetag.jsonfile import read_json
from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import CausalConv1d
from wavetag.models.registry import register_model

SOURCE = "van den Oord et al., WaveNet: A Generative Model for Raw Audio (arXiv 1609.03499); ibab/tensorflow-wavenet"
DEFAULT_DILATIONS = tuple(2**i for i in range(10)) * 2
PARAMS_KEYS = (
    "filter_width",
    "sample_rate",
    "dilations",
    "residual_channels",
    "dilation_channels",
    "quantization_channels",
    "skip_channels",
    "use_biases",
    "scalar_input",
    "initial_filter_width",
)


class ResidualLayer(nn.Module):
    """Gated dilated causal conv; returns (residual output or None for the last layer, skip)."""

    def __init__(
        self, residual: int, dilation_ch: int, skip: int, *, filter_width: int, dilation: int, bias: bool, last: bool
    ) -> None:
        super().__init__()
        self.dilation_ch = dilation_ch
        self.conv = CausalConv1d(residual, 2 * dilation_ch, filter_width, dilation=dilation, bias=bias)  # filter | gate
        self.skip = nn.Conv1d(dilation_ch, skip, 1, bias=bias)
        self.dense = None if last else nn.Conv1d(dilation_ch, residual, 1, bias=bias)  # unused after the last layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        f, g = self.conv(x).split(self.dilation_ch, dim=1)
        z = torch.tanh(f) * torch.sigmoid(g)  # (B, dilation_ch, T)
        out = None if self.dense is None else x + self.dense(z)
        return out, self.skip(z)


class WaveNet(nn.Module):
    """Backbone: μ-law one-hot ``[B, Q, T]`` (or scalar ``[B, 1, T]``) → ``[B, skip_channels]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        filter_width: int = 2,
        dilations: tuple = DEFAULT_DILATIONS,
        residual_channels: int = 16,
        dilation_channels: int = 16,
        skip_channels: int = 16,
        quantization_channels: int = 256,
        use_biases: bool = True,
        scalar_input: bool = False,
        initial_filter_width: int = 32,
        dropout: float = 0.5,
        l2: float = 1e-3,
    ) -> None:
        super().__init__()
        expected = 1 if scalar_input else quantization_channels
        if inp.shape[0] != expected:
            raise ConfigError(
                f"wavenet_classifier: the front end gives {inp.shape[0]} channels but the model expects {expected} "
                f"(quantization_channels = {quantization_channels}, scalar_input = {scalar_input}); use front end "
                f"mulaw with quantization_channels = {quantization_channels} and one_hot = {not scalar_input}"
            )
        width = initial_filter_width if scalar_input else filter_width
        self.causal = CausalConv1d(expected, residual_channels, width, bias=False)
        self.layers = nn.ModuleList(
            [
                ResidualLayer(
                    residual_channels,
                    dilation_channels,
                    skip_channels,
                    filter_width=filter_width,
                    dilation=d,
                    bias=use_biases,
                    last=i == len(dilations) - 1,
                )
                for i, d in enumerate(dilations)
            ]
        )
        self.post = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1, bias=use_biases), nn.ReLU())
        self.receptive_field = (filter_width - 1) * sum(dilations) + width
        self.num_features = skip_channels
        self.head_dropout = dropout
        self.head_l2 = l2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.causal(x)  # (B, residual, T)
        skips = 0
        for layer in self.layers:
            out, skip = layer(x)
            skips = skips + skip
            x = out if out is not None else x
        return self.post(skips).mean(dim=-1)  # (B, skip_channels)


def read_params(path: str | Path) -> dict[str, Any]:
    """The fields of a classic ``wavenet_params.json`` (unknown keys refused)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: WaveNet params file not found")
    params = read_json(path, error=ConfigError, advice="expected the fields of a classic wavenet_params.json")
    unknown = sorted(set(params) - set(PARAMS_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown WaveNet parameter(s) {', '.join(unknown)} (known: {', '.join(PARAMS_KEYS)})"
        )
    return params


def _create_wavenet(
    variant: str,
    arch: dict,
    *,
    params: str | Path | None = None,
    sample_rate: int | None = None,
    num_classes: int,
    task: str = "multiclass",
    frontend: Any = None,
    clip_seconds: float = 1.0,
    pretrained: str | Path | None = None,
    **kwargs: Any,
) -> Classifier:
    file = read_params(params) if params is not None else {}
    file_rate = file.pop("sample_rate", None)
    if file_rate is not None and sample_rate is not None and file_rate != sample_rate:
        raise ConfigError(
            f"{params}: sample_rate {file_rate} but the model is built for {sample_rate} Hz; resample the data or edit "
            "the file"
        )
    options = {**arch, **file, **kwargs}  # keyword arguments > params file > defaults
    scalar = bool(options.get("scalar_input", False))
    q = int(options.get("quantization_channels", 256))
    return build_classifier(
        variant,
        WaveNet,
        arch,
        num_classes=num_classes,
        task=task,
        frontend=frontend,
        sample_rate=sample_rate or file_rate,
        clip_seconds=clip_seconds,
        pretrained=pretrained,
        default_frontend={"name": "mulaw", "quantization_channels": q, "one_hot": not scalar},
        input_kind="waveform" if scalar else "sequence",
        spec_kwargs={**file, **kwargs},
        **{**file, **kwargs},
    )


@register_model(
    "wavenet_classifier",
    family="wavenet",
    input_kind="sequence",
    default_frontend={"name": "mulaw", "quantization_channels": 256, "one_hot": True},
    source=SOURCE,
)
def wavenet_classifier(**kwargs) -> Classifier:
    return _create_wavenet("wavenet_classifier", {}, **kwargs)
