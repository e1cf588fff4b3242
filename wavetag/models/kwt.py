"""KWT: the Keyword Transformer.

Berg, O'Connor, Cruz, "Keyword Transformer: A Self-Attention Model for Keyword Spotting",
Interspeech 2021, arXiv 2104.00769; reference code ARM-software/keyword-transformer. Each MFCC
frame (40 coefficients; 98 frames of 30 ms / 10 ms) is a token: linear projection, a class
token, learned position embeddings, a post-norm transformer encoder (the paper found post-norm
better), the class token through LayerNorm. KWT-1/2/3: dim 64/128/192, heads 1/2/3, MLP 4×dim,
12 layers; ≈ 607k / 2.4M / 5.4M params.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import Block
from wavetag.models.registry import register_model

SOURCE = (
    "Berg et al., Keyword Transformer: A Self-Attention Model for Keyword Spotting, Interspeech 2021 "
    "(arXiv 2104.00769); ARM-software/keyword-transformer"
)
DEFAULT_FRONTEND = {
    "name": "mfcc",
    "n_mfcc": 40,
    "n_mels": 80,
    "win_s": 0.03,
    "hop_s": 0.01,
    "n_fft": 480,
    "center": False,
}


class KWT(nn.Module):
    """Backbone: MFCC image ``[B, C, F, T]`` → class-token embedding ``[B, dim]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        dim: int = 64,
        depth: int = 12,
        num_heads: int = 1,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        pre_norm: bool = False,
        qkv_bias: bool = False,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, bands, frames = inp.shape
        self.patch_embed = nn.Linear(channels * bands, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, frames + 1, dim) * 0.02)
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            *[
                Block(dim, num_heads, int(dim * mlp_ratio), qkv_bias=qkv_bias, drop=dropout, pre_norm=pre_norm)
                for _ in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.num_features = dim
        self.head_dropout = head_dropout
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x.flatten(1, 2).transpose(1, 2))  # (B, T, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, x], dim=1) + self.pos_embed)  # (B, T + 1, dim)
        return self.norm(self.blocks(x)[:, 0])  # (B, dim)


def _create_kwt(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, KWT, arch, **kwargs)


def _reg(name: str):
    return register_model(name, family="kwt", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE)


@_reg("kwt_1")
def kwt_1(**kwargs) -> Classifier:
    return _create_kwt("kwt_1", dict(dim=64, num_heads=1), **kwargs)


@_reg("kwt_2")
def kwt_2(**kwargs) -> Classifier:
    return _create_kwt("kwt_2", dict(dim=128, num_heads=2), **kwargs)


@_reg("kwt_3")
def kwt_3(**kwargs) -> Classifier:
    return _create_kwt("kwt_3", dict(dim=192, num_heads=3), **kwargs)
