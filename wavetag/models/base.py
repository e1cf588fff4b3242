"""`Classifier`: front end + backbone + linear head, one interface for every model family.

::

    wav [B, 1, T] --frontend--> features --backbone--> embedding [B, D] --head--> logits [B, K]
                  '------------ forward_features ------------'  '- forward_head -'

K = ``num_classes`` for "multiclass" (softmax) and "multilabel" (sigmoid per class), 1 for
"binary" (sigmoid). A backbone is any ``nn.Module`` mapping features to ``[B, D]`` with a
``num_features`` attribute (D); optional attributes ``head_dropout`` (dropout before the head)
and ``head_l2`` (L2 coefficient on the head weights, see `Classifier.regularization_loss`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from wavetag.models.macs import count_macs
from wavetag.tasks import Task, get_task

FeatureTransform = Callable[[torch.Tensor], torch.Tensor]  # front-end output -> the same shape


class Classifier(nn.Module):
    """A waveform classifier; build one with `wavetag.models.create_model`.

    ``forward(wav [B, 1, T]) -> logits [B, K]``; ``spec`` rebuilds it: ``create_model(**m.spec)``.
    """

    def __init__(
        self,
        frontend: nn.Module,
        backbone: nn.Module,
        *,
        name: str,
        num_classes: int,
        task: str = "multiclass",
        input_kind: str,
        clip_seconds: float = 1.0,
        spec_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.name = name
        self.task = task
        self.num_classes = num_classes
        self.input_kind = input_kind
        self.clip_seconds = float(clip_seconds)
        self.spec_kwargs = dict(spec_kwargs or {})
        self.head_l2 = float(getattr(backbone, "head_l2", 0.0))
        self.head_drop = nn.Dropout(float(getattr(backbone, "head_dropout", 0.0)))
        self.head = nn.Linear(self.num_features, self.task_rule.num_outputs(num_classes))

    # --- the interface -------------------------------------------------------------------
    @property
    def num_features(self) -> int:
        """D, the width of the embedding ``forward_features`` returns."""
        return int(self.backbone.num_features)

    @property
    def sample_rate(self) -> int:
        return int(self.frontend.sample_rate)

    def forward_features(self, wav: torch.Tensor, transform: FeatureTransform | None = None) -> torch.Tensor:
        """``wav [B, 1, T]`` → embedding ``[B, D]`` (front end, then backbone). ``transform`` (the
        training loop's SpecAugment) is applied to the front end's output before the backbone."""
        feats = self.frontend(wav)
        return self.backbone(feats if transform is None else transform(feats))

    def forward_head(self, emb: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        """Embedding ``[B, D]`` → logits ``[B, K]`` (``[B, D]`` after dropout if ``pre_logits``)."""
        emb = self.head_drop(emb)
        return emb if pre_logits else self.head(emb)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(wav))  # (B, K)

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised head for ``num_classes`` classes (same task)."""
        out = self.task_rule.num_outputs(num_classes)
        p = self.head.weight
        self.head = nn.Linear(self.num_features, out).to(device=p.device, dtype=p.dtype)
        self.num_classes = num_classes

    # --- task helpers --------------------------------------------------------------------
    @property
    def task_rule(self) -> Task:
        """The `Task` that owns this model's probabilities, loss and decision."""
        return get_task(self.task)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax for "multiclass", sigmoid for "multilabel" and "binary" (`Task.probabilities`)."""
        return self.task_rule.probabilities(logits)

    def loss(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        *,
        label_smoothing: float = 0.0,
        class_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cross-entropy for "multiclass" (``target`` class indices ``[B]`` or probabilities
        ``[B, K]``); binary cross-entropy with logits for "multilabel" (``[B, K]`` in [0, 1]) and
        "binary" (``[B]``, or mixup's ``[B, 2]``). See `Task.loss`."""
        return self.task_rule.loss(logits, target, label_smoothing=label_smoothing, class_weights=class_weights)

    def training_loss(self, logits: torch.Tensor, loss_fn) -> torch.Tensor:
        """The training loss of the forward pass that gave ``logits``: ``loss_fn(logits)`` (an
        ensemble may train its members on their own losses instead)."""
        return loss_fn(logits)

    def regularization_loss(self) -> torch.Tensor:
        """``head_l2 * ||W_head||²`` (the families that ask for L2 on their dense head), else 0."""
        if not self.head_l2:
            return self.head.weight.new_zeros(())
        return self.head_l2 * self.head.weight.pow(2).sum()

    # --- description ---------------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        """Everything `create_model` needs to rebuild this model (JSON-able)."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "task": self.task,
            "frontend": self.frontend.to_dict(),
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "kwargs": dict(self.spec_kwargs),
        }

    def num_params(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @torch.no_grad()
    def macs(self, clip_seconds: float = 1.0) -> int:
        """Multiply-accumulates of the backbone and head for one clip of ``clip_seconds``:
        Conv/Linear layers plus attention matmuls (QKᵀ and AV) in the transformers; biases,
        normalisation, activations and the front end are not counted (see `wavetag.models.macs`)."""
        wav = torch.zeros(1, 1, int(round(self.sample_rate * clip_seconds)), device=self.head.weight.device)
        was_training = self.training
        self.eval()
        try:
            return count_macs([self.backbone, self.head], lambda: self(wav), batch_size=1)
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, task={self.task!r}, num_classes={self.num_classes}"
