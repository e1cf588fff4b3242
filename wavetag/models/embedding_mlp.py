"""Small heads on a frozen speech embedding: an MLP over the flattened embedding sequence.

openWakeWord's head (dscripka/openWakeWord, ``openwakeword/train.py``, 2023; the embedding: Lin et al.,
"Training keyword spotters with limited and synthesized speech data", ICASSP 2020, arXiv 2002.01322): flatten the
``[96, n]`` embeddings of a clip, then two dense layers with layer norm and ReLU. The front end
(`wavetag.frontends.speech_embedding`) is frozen, so only this head (~50k parameters) trains:
it learns fast and, since the features come from a model trained on real speech, it carries over
to voices and recordings that synthetic training data never had. ``dropout`` also applies to the
input embeddings (a cheap augmentation of the features).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.registry import register_model

SOURCE = (
    "openWakeWord (dscripka, 2023) dense head on Google's speech_embedding; Lin et al., ICASSP 2020 (arXiv 2002.01322)"
)
DEFAULT_FRONTEND = {"name": "speech_embedding"}


class EmbeddingMLP(nn.Module):
    """Backbone: embedding sequence ``[B, D, n]`` → ``[B, hidden]``."""

    def __init__(self, inp: InputSpec, *, hidden: int = 128, layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        dim, steps = inp.shape
        blocks: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        width = dim * steps
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.net = nn.Sequential(*blocks)
        self.num_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, D, n) -> (B, hidden)


def _create_embedding_mlp(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, EmbeddingMLP, arch, **kwargs)


@register_model(
    "emb_mlp", family="embedding_mlp", input_kind="sequence", default_frontend=DEFAULT_FRONTEND, source=SOURCE
)
def emb_mlp(**kwargs) -> Classifier:
    return _create_embedding_mlp("emb_mlp", dict(hidden=128, layers=2), **kwargs)


@register_model(
    "emb_mlp_l", family="embedding_mlp", input_kind="sequence", default_frontend=DEFAULT_FRONTEND, source=SOURCE
)
def emb_mlp_l(**kwargs) -> Classifier:
    return _create_embedding_mlp("emb_mlp_l", dict(hidden=256, layers=3), **kwargs)
