"""SincNet: learnable band-pass sinc filters followed by a CNN, on the raw waveform.

Ravanelli & Bengio, "Speaker Recognition from Raw Waveform with SincNet", SLT 2018,
arXiv 1808.00158; reference code mravanelli/SincNet (``cfg/SincNet_TIMIT.cfg``): 80 sinc filters
of 251 taps (`wavetag.models.layers.SincConv1d`: Hamming window, learned low and band cut-offs in
Hz, mel-spaced initialisation), |·|, max-pool 3; two Conv1D 60 × 5, max-pool 3; normalisation +
LeakyReLU(0.2) after each. Changes for whole-clip classification: BatchNorm instead of the
reference's LayerNorm over (channels, time) (which ties the model to its 200 ms chunk), global
average pooling over time, and one dense layer (``mlp_dims``; the reference has three of 2048).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.layers import SincConv1d
from wavetag.models.registry import register_model

SOURCE = (
    "Ravanelli & Bengio, Speaker Recognition from Raw Waveform with SincNet, SLT 2018 (arXiv 1808.00158); "
    "mravanelli/SincNet"
)
DEFAULT_FRONTEND = {"name": "waveform"}


class AbsLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class SincNet(nn.Module):
    """Backbone: waveform ``[B, 1, T]`` → ``[B, mlp_dims[-1]]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        sinc_filters: int = 80,
        sinc_kernel: int = 251,
        conv_channels: tuple = (60, 60),
        conv_kernel: int = 5,
        pool: int = 3,
        mlp_dims: tuple = (2048,),
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
    ) -> None:
        super().__init__()
        act = lambda: nn.LeakyReLU(negative_slope)  # noqa: E731
        self.sinc = SincConv1d(
            sinc_filters, sinc_kernel, sample_rate=inp.sample_rate, min_low_hz=min_low_hz, min_band_hz=min_band_hz
        )
        layers: list[nn.Module] = [
            AbsLayer(),
            nn.MaxPool1d(pool),
            nn.BatchNorm1d(sinc_filters),
            act(),
            nn.Dropout(dropout),
        ]
        c = sinc_filters
        for w in conv_channels:
            layers += [nn.Conv1d(c, w, conv_kernel), nn.MaxPool1d(pool), nn.BatchNorm1d(w), act(), nn.Dropout(dropout)]
            c = w
        self.cnn = nn.Sequential(*layers)
        probe_shape(nn.Sequential(self.sinc, self.cnn), inp.shape, what="sincnet")
        mlp: list[nn.Module] = []
        for d in mlp_dims:
            mlp += [nn.Linear(c, d), nn.BatchNorm1d(d), act(), nn.Dropout(dropout)]
            c = d
        self.mlp = nn.Sequential(*mlp)
        self.num_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cnn(self.sinc(x))  # (B, 60, T')
        return self.mlp(x.mean(dim=-1))  # (B, mlp_dims[-1])


@register_model("sincnet", family="sincnet", input_kind="waveform", default_frontend=DEFAULT_FRONTEND, source=SOURCE)
def sincnet(**kwargs) -> Classifier:
    return build_classifier("sincnet", SincNet, {}, **kwargs)
