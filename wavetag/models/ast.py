"""AST: the Audio Spectrogram Transformer, in plain torch.

Gong, Chung, Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021, arXiv 2104.01778;
reference code YuanGongND/ast (``src/models/ast_models.py``). 128-mel input cut into overlapping
16×16 patches (stride 10 × 10) by a conv, a class token and a distillation token (DeiT), learned
position embeddings, a ViT-Base encoder (768 wide, 12 layers, 12 heads, pre-norm), the mean of
the two tokens through LayerNorm (the official ``mlp_head[0]``). The position table is sized from
the clip length (1 s: 12 × 9 patches).

``pretrained=PATH`` (a file or a directory) loads, with the head replaced: the official
checkpoints (``module.v.*`` timm names, ``mlp_head.0`` → ``head_norm``) or Hugging Face
``ASTModel`` / ``ASTForAudioClassification`` weights (``audio_spectrogram_transformer.*``;
query/key/value are concatenated into ``qkv``). A base ``ASTModel`` has no classifier: its head
LayerNorm (``head_norm``) starts fresh, like the linear head. A ``config.json`` beside HF weights sets the
architecture. Position embeddings of another patch grid are cut (centre) or interpolated
(bilinear) per axis, as the reference code does. The reference normalises its fbank features
with dataset statistics; use a front end with ``normalize="dataset"`` when fine-tuning.
"""

from __future__ import annotations

import inspect
import math
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
from wavetag.models.layers import Block
from wavetag.models.pretrained import load_into, read_state_dict
from wavetag.models.registry import register_model

SOURCE = "Gong et al., AST: Audio Spectrogram Transformer, Interspeech 2021 (arXiv 2104.01778); YuanGongND/ast"
DEFAULT_FRONTEND = {"name": "logmel", "n_mels": 128, "win_s": 0.025, "hop_s": 0.01}
HF_CONFIG_KEYS = {  # HF ASTConfig field -> our option
    "hidden_size": "embed_dim",
    "num_hidden_layers": "depth",
    "num_attention_heads": "num_heads",
    "patch_size": "patch_size",
    "frequency_stride": "fstride",
    "time_stride": "tstride",
    "layer_norm_eps": "norm_eps",
}


class PatchEmbed(nn.Module):
    """``[B, C, F, T] -> [B, f · t, D]`` with a ``patch × patch`` conv of stride (fstride, tstride)."""

    def __init__(self, in_channels: int, dim: int, patch: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class AST(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, embed_dim]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        fstride: int = 10,
        tstride: int = 10,
        dropout: float = 0.0,
        norm_eps: float = 1e-6,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, bands, frames = inp.shape
        self.grid = ((bands - patch_size) // fstride + 1, (frames - patch_size) // tstride + 1)
        if bands < patch_size or frames < patch_size:
            raise ConfigError(
                f"ast: input {bands} bands × {frames} frames is smaller than one {patch_size}×{patch_size} patch"
            )
        self.patch_embed = PatchEmbed(channels, embed_dim, patch_size, (fstride, tstride))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1] + 2, embed_dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, int(embed_dim * mlp_ratio), drop=dropout, eps=norm_eps) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head_norm = nn.LayerNorm(embed_dim)
        self.num_features = embed_dim
        self.head_dropout = head_dropout
        for p in (self.cls_token, self.dist_token, self.pos_embed):
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, f·t, D)
        tokens = torch.cat([self.cls_token, self.dist_token], dim=1).expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([tokens, x], dim=1) + self.pos_embed)  # (B, f·t + 2, D)
        x = self.norm(self.blocks(x))
        return self.head_norm((x[:, 0] + x[:, 1]) / 2)  # (B, D)


# --- pretrained checkpoints ------------------------------------------------------------------
HF_RULES = [  # (pattern on HF ASTModel names, replacement in ours)
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.distillation_token$", "dist_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.layernorm_before\.", r"blocks.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.layernorm_after\.", r"blocks.\1.norm2."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "norm."),
    (r"^classifier\.layernorm\.", "head_norm."),
]
HF_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$")
DROPPED = re.compile(r"^(classifier\.dense\.|mlp_head\.1\.|head\.|head_dist\.)")


def convert_ast_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official (``module.v.*``, ``mlp_head.*``) or HF (``audio_spectrogram_transformer.*``) AST
    names → this backbone's names; classifier weights dropped."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = re.sub(r"^(module\.|audio_spectrogram_transformer\.)", "", key)
        key = re.sub(r"^v\.", "", key)
        key = re.sub(r"^mlp_head\.0\.", "head_norm.", key)
        if DROPPED.match(key):
            continue
        m = HF_QKV.match(key)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = value
            continue
        for pattern, repl in HF_RULES:
            if re.match(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise CheckpointError(f"layer {layer}: {kind} of query/key/value incomplete ({sorted(parts)})")
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def resize_pos_embed(pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """``[1, 2 + f·t, D]`` from ``old_grid`` to ``new_grid``: per axis, a centre cut when shrinking,
    bilinear interpolation when growing (the reference code's adaptation)."""
    tokens, grid = pos[:, :2], pos[:, 2:]
    d = grid.shape[-1]
    grid = grid.reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)  # (1, D, f, t)
    for axis, (old, new) in enumerate(zip(old_grid, new_grid, strict=False)):
        if new < old:
            start = old // 2 - new // 2
            grid = grid.narrow(2 + axis, start, new)
        elif new > old:
            size = (new, grid.shape[3]) if axis == 0 else (grid.shape[2], new)
            grid = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
    return torch.cat([tokens, grid.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)


def _old_grid(n: int, ours: tuple[int, int], hf: dict[str, Any]) -> tuple[int, int]:
    if "num_mel_bins" in hf and "max_length" in hf:
        p, fs, ts = hf.get("patch_size", 16), hf.get("frequency_stride", 10), hf.get("time_stride", 10)
        grid = ((hf["num_mel_bins"] - p) // fs + 1, (hf["max_length"] - p) // ts + 1)
        if grid[0] * grid[1] == n:
            return grid
    if n % ours[0] == 0:
        return ours[0], n // ours[0]
    side = math.isqrt(n)
    if side * side == n:
        return side, side
    raise CheckpointError(
        f"cannot tell the patch grid of a {n}-patch position table; put the HF config.json beside the weights"
    )


def _hf_config(path: Path) -> dict[str, Any]:
    return read_json_beside(path, error=CheckpointError)


def load_ast_pretrained(model: Classifier, path: Path) -> None:
    state = convert_ast_state(read_state_dict(path))
    backbone: AST = model.backbone
    pos = state.get("pos_embed")
    if pos is not None and pos.shape != backbone.pos_embed.shape:
        old = _old_grid(pos.shape[1] - 2, backbone.grid, _hf_config(path))
        state["pos_embed"] = resize_pos_embed(pos, old, backbone.grid)
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.shape[1] != backbone.patch_embed.proj.in_channels:
        state["patch_embed.proj.weight"] = proj.mean(dim=1, keepdim=True).repeat(
            1, backbone.patch_embed.proj.in_channels, 1, 1
        )
    if not any(k.startswith("head_norm.") for k in state):  # a base encoder (HF ASTModel): the head's norm starts fresh
        state.update({f"head_norm.{k}": v for k, v in backbone.head_norm.state_dict().items()})
    load_into(backbone, state, where=path, what="AST")


def _create_ast(variant: str, arch: dict, *, pretrained: str | Path | None = None, **kwargs: Any) -> Classifier:
    hf = _hf_config(Path(pretrained)) if pretrained is not None else {}
    from_ckpt = {ours: hf[theirs] for theirs, ours in HF_CONFIG_KEYS.items() if theirs in hf}
    if "intermediate_size" in hf and "hidden_size" in hf:
        from_ckpt["mlp_ratio"] = hf["intermediate_size"] / hf["hidden_size"]
    user = {k: v for k, v in kwargs.items() if k in set(inspect.signature(AST).parameters) - {"inp"}}
    common = {k: v for k, v in kwargs.items() if k not in user}
    return build_classifier(
        variant,
        AST,
        {**arch, **from_ckpt},
        pretrained=pretrained,
        load_pretrained=load_ast_pretrained,
        spec_kwargs={**from_ckpt, **user},
        **common,
        **user,
    )


@register_model(
    "ast", family="ast", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE, pretrained=True
)
def ast(**kwargs) -> Classifier:
    return _create_ast("ast", {}, **kwargs)
