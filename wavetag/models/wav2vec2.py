"""wav2vec 2.0 encoder + mean pooling, in plain torch with Hugging Face parameter names.

Baevski, Zhou, Mohamed, Auli, "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech
Representations", NeurIPS 2020, arXiv 2006.11477; reference code facebookresearch/fairseq, module
names of Hugging Face ``Wav2Vec2Model``. Convolutional feature encoder (7 convs, 512 channels,
kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2: 20 ms frames; GroupNorm on the first conv for
``feat_extract_norm="group"``, LayerNorm on every conv for "layer"), feature projection
(LayerNorm + linear), a weight-normed grouped convolutional position embedding, a transformer
encoder (post-norm; pre-norm with ``do_stable_layer_norm``), mean pooling over frames.
Defaults are wav2vec2-base (95M parameters).

``pretrained=PATH`` (a directory with ``model.safetensors`` or ``pytorch_model.bin`` and
optionally HF ``config.json``, or a weights file) loads base ``Wav2Vec2Model`` or ``HubertModel``
weights with a fresh head (a ``wav2vec2.`` / ``hubert.`` prefix from ``*For*`` models is stripped;
the quantizer, ``project_*``, ``masked_spec_embed``, adapters and heads are skipped); the config
sets the architecture. The position conv's weight norm is stored as ``weight_g``/``weight_v`` (old HF names; the newer
``parametrizations.weight.original0/1`` are mapped). HF base models expect zero-mean
unit-variance input (``do_normalize``).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wavetag.errors import CheckpointError, ConfigError
from wavetag.jsonfile import read_json_beside
from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import attention
from wavetag.models.pretrained import load_into, read_state_dict
from wavetag.models.registry import register_model

SOURCE = "Baevski et al., wav2vec 2.0 (arXiv 2006.11477); facebookresearch/fairseq; Hugging Face Wav2Vec2Model names"
DEFAULT_FRONTEND = {"name": "waveform"}
HF_ARCH_KEYS = (
    "conv_dim",
    "conv_kernel",
    "conv_stride",
    "conv_bias",
    "feat_extract_norm",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "num_conv_pos_embeddings",
    "num_conv_pos_embedding_groups",
    "do_stable_layer_norm",
    "layer_norm_eps",
)


class ConvLayer(nn.Module):
    """Feature-encoder conv + optional norm ("group": GroupNorm per channel; "layer": LayerNorm
    over channels) + GELU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, *, bias: bool, norm: str | None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, bias=bias)
        self.norm_kind = norm
        if norm == "group":
            self.layer_norm = nn.GroupNorm(out_ch, out_ch, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(out_ch, elementwise_affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_kind == "group":
            x = self.layer_norm(x)
        elif self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)


class FeatureEncoder(nn.Module):
    def __init__(self, in_ch: int, dims: tuple, kernels: tuple, strides: tuple, *, bias: bool, norm: str) -> None:
        super().__init__()
        chans = (in_ch, *dims)
        self.conv_layers = nn.ModuleList(
            [
                ConvLayer(
                    chans[i],
                    chans[i + 1],
                    kernels[i],
                    strides[i],
                    bias=bias,
                    norm="layer" if norm == "layer" else ("group" if i == 0 else None),
                )
                for i in range(len(dims))
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.conv_layers:
            x = layer(x)
        return x  # (B, conv_dim[-1], frames)


class FeatureProjection(nn.Module):
    def __init__(self, in_dim: int, hidden: int, *, eps: float, dropout: float) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_dim, eps=eps)
        self.projection = nn.Linear(in_dim, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.projection(self.layer_norm(x)))


class WeightNormConv1d(nn.Module):
    """Grouped conv with weight normalisation over all axes but the kernel axis (dim 2):
    ``w = g · v / ||v||``; parameters ``weight_g [1, 1, K]``, ``weight_v``, ``bias``."""

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__()
        v = torch.empty(channels, channels // groups, kernel)
        nn.init.normal_(v, 0, (4.0 / (kernel * channels)) ** 0.5)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.norm(dim=(0, 1), keepdim=True))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.kernel, self.groups = kernel, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_v * (self.weight_g / self.weight_v.norm(dim=(0, 1), keepdim=True))
        y = F.conv1d(x, w, self.bias, padding=self.kernel // 2, groups=self.groups)
        return y[..., :-1] if self.kernel % 2 == 0 else y  # "same" length

    def count_macs(self, inputs: tuple, output: torch.Tensor) -> int:
        return output.numel() * self.weight_v.shape[1] * self.kernel


class PositionalConvEmbedding(nn.Module):
    def __init__(self, hidden: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.conv = WeightNormConv1d(hidden, kernel, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, D)
        return F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)


class SelfAttention(nn.Module):
    """HF names ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``."""

    def __init__(self, dim: int, num_heads: int, *, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, d = x.shape[1], x.shape[2]
        split = lambda t: t.reshape(-1, n, self.num_heads, self.head_dim).transpose(1, 2)  # noqa: E731
        y = attention(
            split(self.q_proj(x)),
            split(self.k_proj(x)),
            split(self.v_proj(x)),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(y.transpose(1, 2).reshape(-1, n, d))

    def count_macs(self, inputs: tuple, output: torch.Tensor) -> int:
        b, n, d = output.shape
        return 2 * b * n * n * d


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, *, dropout: float) -> None:
        super().__init__()
        self.intermediate_dropout = nn.Dropout(dropout)
        self.intermediate_dense = nn.Linear(dim, hidden)
        self.output_dense = nn.Linear(hidden, dim)
        self.output_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, *, eps: float, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.attention = SelfAttention(dim, heads, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.feed_forward = FeedForward(dim, hidden, dropout=dropout)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.dropout(self.attention(self.layer_norm(x)))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.dropout(self.attention(x)))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(
        self,
        dim: int,
        layers: int,
        heads: int,
        hidden: int,
        *,
        pos_kernel: int,
        pos_groups: int,
        eps: float,
        dropout: float,
        pre_norm: bool,
    ) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.pos_conv_embed = PositionalConvEmbedding(dim, pos_kernel, pos_groups)
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [EncoderLayer(dim, heads, hidden, eps=eps, dropout=dropout, pre_norm=pre_norm) for _ in range(layers)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_conv_embed(x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x)
        return self.layer_norm(x) if self.pre_norm else x


class Wav2Vec2(nn.Module):
    """Backbone: waveform ``[B, 1, T]`` → mean of the encoder's frames ``[B, hidden_size]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        conv_dim: tuple = (512,) * 7,
        conv_kernel: tuple = (10, 3, 3, 3, 3, 2, 2),
        conv_stride: tuple = (5, 2, 2, 2, 2, 2, 2),
        conv_bias: bool = False,
        feat_extract_norm: str = "group",
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        num_conv_pos_embeddings: int = 128,
        num_conv_pos_embedding_groups: int = 16,
        do_stable_layer_norm: bool = False,
        layer_norm_eps: float = 1e-5,
        dropout: float = 0.1,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not len(conv_dim) == len(conv_kernel) == len(conv_stride):
            raise ConfigError(
                f"wav2vec2: conv_dim, conv_kernel and conv_stride differ in length "
                f"({len(conv_dim)}, {len(conv_kernel)}, {len(conv_stride)})"
            )
        if feat_extract_norm not in ("group", "layer"):
            raise ConfigError(f"wav2vec2: feat_extract_norm = {feat_extract_norm!r}; expected 'group' or 'layer'")
        self.feature_extractor = FeatureEncoder(
            inp.shape[0],
            tuple(conv_dim),
            tuple(conv_kernel),
            tuple(conv_stride),
            bias=conv_bias,
            norm=feat_extract_norm,
        )
        self.feature_projection = FeatureProjection(conv_dim[-1], hidden_size, eps=layer_norm_eps, dropout=dropout)
        self.encoder = Encoder(
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size,
            pos_kernel=num_conv_pos_embeddings,
            pos_groups=num_conv_pos_embedding_groups,
            eps=layer_norm_eps,
            dropout=dropout,
            pre_norm=do_stable_layer_norm,
        )
        self.num_features = hidden_size
        self.head_dropout = head_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_extractor(x).transpose(1, 2)  # (B, frames, conv_dim)
        x = self.encoder(self.feature_projection(x))  # (B, frames, hidden)
        return x.mean(dim=1)


# --- pretrained checkpoints ------------------------------------------------------------------
SKIPPED = re.compile(
    r"^(masked_spec_embed|quantizer\.|project_q\.|project_hid\.|lm_head\.|classifier\.|projector\.|adapter\.|dropout_features)"
)


def convert_wav2vec2_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF ``Wav2Vec2Model`` / ``Wav2Vec2For*`` / ``HubertModel`` / ``HubertFor*`` names → this backbone's names."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^(wav2vec2|hubert)\.", "", key)
        if SKIPPED.match(key):
            continue
        key = key.replace("pos_conv_embed.conv.parametrizations.weight.original0", "pos_conv_embed.conv.weight_g")
        key = key.replace("pos_conv_embed.conv.parametrizations.weight.original1", "pos_conv_embed.conv.weight_v")
        out[key] = value
    return out


def _hf_arch(path: Path) -> dict[str, Any]:
    config = read_json_beside(path, error=CheckpointError)
    return {k: config[k] for k in HF_ARCH_KEYS if k in config}


def load_wav2vec2_pretrained(model: Classifier, path: Path) -> None:
    load_into(model.backbone, convert_wav2vec2_state(read_state_dict(path)), where=path, what="wav2vec2")


def _create_wav2vec2(variant: str, arch: dict, *, pretrained: str | Path | None = None, **kwargs: Any) -> Classifier:
    from_ckpt = _hf_arch(Path(pretrained)) if pretrained is not None else {}
    names = set(inspect.signature(Wav2Vec2).parameters) - {"inp"}
    user = {k: v for k, v in kwargs.items() if k in names}
    common = {k: v for k, v in kwargs.items() if k not in user}
    return build_classifier(
        variant,
        Wav2Vec2,
        {**arch, **from_ckpt},
        pretrained=pretrained,
        load_pretrained=load_wav2vec2_pretrained,
        spec_kwargs={**from_ckpt, **user},
        **common,
        **user,
    )


@register_model(
    "wav2vec2_classifier",
    family="wav2vec2",
    input_kind="waveform",
    default_frontend=DEFAULT_FRONTEND,
    source=SOURCE,
    pretrained=True,
)
def wav2vec2_classifier(**kwargs) -> Classifier:
    return _create_wav2vec2("wav2vec2_classifier", {}, **kwargs)
