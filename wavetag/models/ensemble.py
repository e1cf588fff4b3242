"""Ensembles: several classifiers combined into one model that every command accepts.

The FSDKaggle2018 tagging task (Fonseca et al., "General-purpose Tagging of Freesound Audio with
AudioSet Labels: Task Description, Dataset, and Baseline", DCASE 2018, arXiv 1807.09902) was won
by averaging the probabilities of several CNNs (e.g. Iqbal et al., "General-purpose audio tagging
from noisy labels using convolutional neural networks", DCASE 2018). `Ensemble` holds member
`Classifier` s, each with its own front end, and combines their probabilities::

    wav [B, 1, T] --member i (front end, backbone)--> emb_i [B, D_i]     concatenated: [B, sum D_i]
      --member i head--> logits_i [B, K] --combine (method, weights w)--> logits [B, K]

- ``mean`` / ``weighted``: ``p = sum_i w_i p_i`` (uniform ``w`` for mean). The logits returned are
  ``log p`` (multiclass) or ``log p - log(1 - p)`` (multilabel, binary), computed in log space
  (logsumexp of ``log w_i + log_softmax`` / ``logsigmoid``), so they stay finite and the members'
  own ``probabilities`` (softmax / sigmoid) of them give ``p`` exactly.
- ``geometric``: the normalised weighted geometric mean, ``p ∝ prod_i p_i^w_i``; its logits are
  ``sum_i w_i log_softmax(z_i)`` (multiclass) and ``sum_i w_i z_i`` (sigmoid tasks: the geometric
  mean of the members' Bernoulli distributions, renormalised).

Members must agree on task, classes, sample rate and window (``clip_seconds``): the ensemble
slides one window over long clips like any model, so members with other windows are refused
rather than silently cropped. ``spec`` holds every member's spec, the method and the weights, and
``model.safetensors`` every member's tensors under ``backbone.members.<i>.``, so `load_model_dir`
rebuilds an ensemble from its directory alone. Build one from trained models with
`wavetag.semi.ensemble.build_ensemble` (``wavetag ensemble``); ``create_model("ensemble", ...)``
without ``members`` gives two small untrained members (``bc_resnet_1`` and ``ds_cnn_s``), which
lets the zoo's tests and ``wavetag train --model ensemble`` (joint training) treat it like any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wavetag.errors import ConfigError
from wavetag.frontends import FrontEnd
from wavetag.models.base import Classifier, FeatureTransform
from wavetag.models.factory import create_model, jsonable, resolve_frontend
from wavetag.models.registry import register_model
from wavetag.tasks import get_task

SOURCE = (
    "Fonseca et al., General-purpose Tagging of Freesound Audio with AudioSet Labels, DCASE 2018 "
    "(arXiv 1807.09902): the FSDKaggle2018 systems averaged several CNNs"
)
METHODS = ("mean", "geometric", "weighted")
DEFAULT_MEMBERS = ({"name": "bc_resnet_1"}, {"name": "ds_cnn_s"})
LOG_WEIGHT_FLOOR = 1e-30  # a member with weight 0 contributes 1e-30 × its probabilities (keeps logs finite)


def combine_logits(member_logits: torch.Tensor, weights: torch.Tensor, *, task: str, method: str) -> torch.Tensor:
    """Members' logits ``[M, B, K]`` and weights ``[M]`` (sum 1) → ensemble logits ``[B, K]``
    (see the module docstring for what each ``method`` computes)."""
    w = weights.to(member_logits.dtype).view(-1, 1, 1)
    if method == "geometric":
        z = member_logits.log_softmax(-1) if get_task(task).exclusive else member_logits
        return (w * z).sum(0)
    log_w = w.clamp_min(LOG_WEIGHT_FLOOR).log()
    if get_task(task).exclusive:
        return torch.logsumexp(log_w + member_logits.log_softmax(-1), dim=0)  # log sum_i w_i p_i
    log_p = torch.logsumexp(log_w + F.logsigmoid(member_logits), dim=0)
    log_q = torch.logsumexp(log_w + F.logsigmoid(-member_logits), dim=0)
    return log_p - log_q  # logit of sum_i w_i sigmoid(z_i)


class MemberFeatures(nn.Module):
    """The ensemble's backbone: ``wav [B, 1, T]`` → the members' embeddings concatenated ``[B, sum D_i]``."""

    def __init__(self, members: Sequence[Classifier]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.splits = [m.num_features for m in members]
        self.num_features = sum(self.splits)

    def forward(self, wav: torch.Tensor, transform: FeatureTransform | None = None) -> torch.Tensor:
        return torch.cat([m.forward_features(wav, transform) for m in self.members], dim=-1)  # (B, sum D_i)


class Ensemble(nn.Module):
    """Member classifiers whose probabilities are combined (``method``: mean | geometric | weighted).

    The Classifier interface: ``forward(wav [B, 1, T]) -> logits [B, K]``, ``forward_features``
    (members' embeddings concatenated), ``forward_head``, ``probabilities``, ``loss``,
    ``reset_classifier``, ``spec``, ``num_params``, ``macs``, and ``task``, ``num_classes``,
    ``sample_rate``, ``clip_seconds``, ``input_kind``, ``frontend`` (the identity ``waveform``
    front end: each member carries its own).
    """

    name = "ensemble"
    input_kind = "waveform"

    def __init__(
        self,
        members: Sequence[Classifier],
        *,
        method: str = "mean",
        weights: Sequence[float] | None = None,
        frontend: FrontEnd | None = None,
        train_apart: bool = False,
    ) -> None:
        super().__init__()
        members = list(members)
        _check_members(members)
        if method not in METHODS:
            raise ConfigError(f"ensemble method = {method!r}; expected one of {', '.join(METHODS)}")
        first = members[0]
        self.task, self.num_classes, self.clip_seconds = first.task, first.num_classes, first.clip_seconds
        self.method = method
        self.frontend = frontend or resolve_frontend(None, default={"name": "waveform"}, sample_rate=first.sample_rate)
        if self.frontend.sample_rate != first.sample_rate:
            raise ConfigError(
                f"ensemble front end runs at {self.frontend.sample_rate} Hz, its members at {first.sample_rate} Hz"
            )
        self.backbone = MemberFeatures(members)
        self.train_apart = bool(train_apart)
        self._member_logits: torch.Tensor | None = None
        self.weight_values = _check_weights(weights, len(members), method)
        self.register_buffer("weights", torch.tensor(self.weight_values, dtype=torch.float32), persistent=False)

    # --- the interface -------------------------------------------------------------------
    @property
    def members(self) -> nn.ModuleList:
        return self.backbone.members

    @property
    def head(self) -> nn.Linear:
        """The first member's head: every member has the same outputs (export reads ``out_features``)."""
        return self.members[0].head

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    @property
    def sample_rate(self) -> int:
        return int(self.frontend.sample_rate)

    def forward_features(self, wav: torch.Tensor, transform: FeatureTransform | None = None) -> torch.Tensor:
        """``wav [B, 1, T]`` → the members' embeddings, concatenated ``[B, sum D_i]``. ``transform``
        reaches each member's own front-end output (the ensemble's, the waveform, is passed on as is)."""
        return self.backbone(self.frontend(wav), transform)

    def forward_head(self, emb: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        """Concatenated embeddings ``[B, sum D_i]`` → ensemble logits ``[B, K]``."""
        parts = emb.split(self.backbone.splits, dim=-1)
        if pre_logits:
            return torch.cat(
                [m.forward_head(p, pre_logits=True) for m, p in zip(self.members, parts, strict=True)], dim=-1
            )
        logits = torch.stack([m.forward_head(p) for m, p in zip(self.members, parts, strict=False)])  # (M, B, K)
        self._member_logits = logits if (self.training and self.train_apart) else None
        return combine_logits(logits, self.weights, task=self.task, method=self.method)

    def training_loss(self, logits: torch.Tensor, loss_fn) -> torch.Tensor:
        """``train_apart``: the mean of the members' own losses on the logits of the forward pass
        just made (each member learns as if trained alone, as ensembles of separately trained
        models do); otherwise ``loss_fn`` of the combined ``logits`` (the mixture is trained)."""
        member_logits, self._member_logits = self._member_logits, None
        if member_logits is None:
            return loss_fn(logits)
        return torch.stack([loss_fn(z.float()) for z in member_logits]).mean()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(wav))  # (B, K)

    def member_logits(self, wav: torch.Tensor) -> torch.Tensor:
        """Each member's own logits ``[M, B, K]``."""
        return torch.stack([m(wav) for m in self.members])

    # The task helpers only read ``self.task``: the members' own definitions apply unchanged.
    task_rule = Classifier.task_rule
    probabilities = Classifier.probabilities
    loss = Classifier.loss

    def regularization_loss(self) -> torch.Tensor:
        return sum(m.regularization_loss() for m in self.members)

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh heads for ``num_classes`` classes in every member."""
        for m in self.members:
            m.reset_classifier(num_classes)
        self.num_classes = num_classes

    # --- description ---------------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        """What `create_model` needs to rebuild it: ``create_model(**ensemble.spec)``."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "task": self.task,
            "frontend": self.frontend.to_dict(),
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "kwargs": jsonable(
                {
                    "method": self.method,
                    "weights": list(self.weight_values),
                    "members": [m.spec for m in self.members],
                    "train_apart": self.train_apart,
                }
            ),
        }

    def num_params(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def macs(self, clip_seconds: float = 1.0) -> int:
        """The members' multiply-accumulates per clip, summed (see `Classifier.macs`)."""
        return sum(m.macs(clip_seconds) for m in self.members)

    def extra_repr(self) -> str:
        weights = ", ".join(f"{w:.3g}" for w in self.weight_values)
        return f"method={self.method!r}, weights=[{weights}], task={self.task!r}, num_classes={self.num_classes}"


def _check_members(members: list) -> None:
    if not members:
        raise ConfigError("an ensemble needs at least one member model")
    first = members[0]
    for i, m in enumerate(members[1:], start=1):
        for what, a, b in (
            ("task", first.task, m.task),
            ("num_classes", first.num_classes, m.num_classes),
            ("sample_rate", first.sample_rate, m.sample_rate),
            ("clip_seconds", first.clip_seconds, m.clip_seconds),
        ):
            if a != b:
                raise ConfigError(
                    f"ensemble members differ in {what}: member 0 ({first.name}) has {a!r}, member {i} ({m.name}) "
                    f"{b!r}; "
                    "members must share task, classes, sample rate and window"
                )


def _check_weights(weights: Sequence[float] | None, count: int, method: str) -> tuple[float, ...]:
    if weights is None:
        return tuple([1.0 / count] * count)
    w = [float(x) for x in weights]
    if len(w) != count or any(not x >= 0 for x in w) or sum(w) <= 0:
        raise ConfigError(f"ensemble weights = {w}; expected {count} non-negative numbers (one per member), not all 0")
    if method == "mean" and max(w) - min(w) > 1e-9:
        raise ConfigError(f"ensemble method 'mean' takes equal weights, got {w}; use method 'weighted'")
    return tuple(x / sum(w) for x in w)


@register_model(
    "ensemble", family="ensemble", input_kind="waveform", default_frontend={"name": "waveform"}, source=SOURCE
)
def ensemble(
    *,
    num_classes: int,
    task: str = "multiclass",
    frontend: Any = None,
    sample_rate: int | None = None,
    clip_seconds: float = 1.0,
    pretrained: Any = None,
    members: Sequence[dict] | None = None,
    method: str = "mean",
    weights: Sequence[float] | None = None,
    train_apart: bool = False,
) -> Ensemble:
    """An `Ensemble` of ``members`` (model specs, as `Classifier.spec` gives them; default: untrained
    ``bc_resnet_1`` + ``ds_cnn_s``), each rebuilt for ``num_classes``/``task`` at ``sample_rate``.
    ``train_apart``: when trained jointly (``wavetag train --model ensemble``), each member learns
    from its own loss (see `Ensemble.training_loss`) instead of the mixture's."""
    if pretrained is not None:
        raise ConfigError(
            "model 'ensemble' loads no pretrained weights; build it from trained models with 'wavetag ensemble'"
        )
    fe = resolve_frontend(frontend, default={"name": "waveform"}, sample_rate=sample_rate)
    if fe.name != "waveform" or fe.to_dict().get("normalize") != "none":
        raise ConfigError(
            f"the ensemble's own front end must be 'waveform' without normalisation (got {fe.to_dict()}); "
            "each member carries its own front end"
        )
    nets = []
    for i, spec in enumerate(members or DEFAULT_MEMBERS):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError(f"ensemble member {i}: {spec!r}; expected a model spec with a 'name'")
        for field, value in (("clip_seconds", float(clip_seconds)), ("sample_rate", fe.sample_rate)):
            if spec.get(field, value) != value:
                raise ConfigError(
                    f"ensemble member {i} ({spec['name']}) has {field} {spec[field]!r}, the ensemble {value!r}"
                )
        nets.append(
            create_model(
                **{
                    **spec,
                    "num_classes": num_classes,
                    "task": task,
                    "sample_rate": fe.sample_rate,
                    "clip_seconds": float(clip_seconds),
                }
            )
        )
    return Ensemble(nets, method=method, weights=weights, frontend=fe, train_apart=train_apart)
