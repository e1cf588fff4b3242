"""Small heads on a frozen speech embedding: 1-D convolutions over the embedding sequence.

The embeddings of `wavetag.frontends.speech_embedding` come every 80 ms. A few 1-D convolutions
(kernel 3 = 240 ms of context each, "same" padding) with batch norm and ReLU look along that
sequence; mean and max pooling over time then make the head independent of the clip length and
of where in the clip the word falls. A TC-ResNet-style reading (Choi et al., Interspeech 2019)
with the 96 embedding values as channels (arXiv 1904.03814); the embedding: Lin et al., ICASSP 2020
(arXiv 2002.01322).

``whisper_conv`` is the same head on the frozen encoder of Whisper tiny.en
(`wavetag.frontends.whisper_encoder`: 384 values every 20 ms, so a kernel of 3 sees 60 ms); the
recipe ``kws`` trains it.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.registry import register_model

SOURCE = "1-D temporal convolutions over Google's speech_embedding (cf. TC-ResNet, Choi et al. 2019, arXiv 1904.03814)"
DEFAULT_FRONTEND = {"name": "speech_embedding"}
WHISPER_SOURCE = (
    "1-D temporal convolutions over the frozen encoder of Whisper tiny.en (Radford et al. 2022, arXiv 2212.04356)"
)
WHISPER_FRONTEND = {"name": "whisper_encoder"}


class EmbeddingConv(nn.Module):
    """Backbone: embedding sequence ``[B, D, n]`` → ``[B, 2 * channels]`` (mean and max over time)."""

    def __init__(
        self, inp: InputSpec, *, channels: int = 128, layers: int = 2, kernel_size: int = 3, dropout: float = 0.2
    ) -> None:
        super().__init__()
        dim = inp.shape[0]
        blocks: list[nn.Module] = [nn.Dropout(dropout)]
        for i in range(layers):
            blocks += [
                nn.Conv1d(dim if i == 0 else channels, channels, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
            ]
        self.convs = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.num_features = 2 * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)  # (B, channels, n)
        return self.drop(torch.cat([y.mean(dim=2), y.amax(dim=2)], dim=1))  # (B, 2 * channels)


def _create_embedding_conv(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, EmbeddingConv, arch, **kwargs)


@register_model(
    "emb_conv", family="embedding_conv", input_kind="sequence", default_frontend=DEFAULT_FRONTEND, source=SOURCE
)
def emb_conv(**kwargs) -> Classifier:
    return _create_embedding_conv("emb_conv", dict(channels=128, layers=2), **kwargs)


@register_model(
    "whisper_conv",
    family="embedding_conv",
    input_kind="sequence",
    default_frontend=WHISPER_FRONTEND,
    source=WHISPER_SOURCE,
)
def whisper_conv(**kwargs) -> Classifier:
    """`emb_conv`'s head on the frozen Whisper encoder (`wavetag.frontends.whisper_encoder`)."""
    return _create_embedding_conv("whisper_conv", dict(channels=128, layers=2), **kwargs)
