"""The three tasks a classifier can have, one object each: what the logits mean.

A `Task` owns everything that differs between them, so no other module asks "which task?":

    task = get_task("binary")
    task.num_outputs(num_classes=2)       # 1 logit
    task.probabilities(logits)            # torch [B, K]: softmax | sigmoid (model output space)
    task.label_probabilities(logits)      # numpy [..., len(labels)]: binary gives [1 - p, p]
    task.loss(logits, target)             # cross-entropy | binary cross-entropy with logits
    task.hits(probs, targets)             # numpy [N] bool: the top-1 decision is right
    task.decide(probs, labels)            # (label or list of labels, score) of one clip
    task.output_rule                      # how to read the exported ONNX graph's logits

Targets are what `Pack.targets` gives: class ids ``[N]`` (multiclass, binary) or multi-hot
``[N, C]`` (multilabel); after mixup, probabilities ``[N, K]`` (multiclass, binary ``[N, 2]``).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import numpy as np

from wavetag.errors import ConfigError
from wavetag.registry import Registry

if TYPE_CHECKING:  # torch is imported by the methods that take tensors: `import wavetag.evaluate`
    import torch  # (numpy metrics, which need the task names) stays free of torch (a test checks it)

PRESENT_AT = 0.5  # a sigmoid class (binary positive, multi-label tag) is "present" at this probability
EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before a log

TASKS: Registry[Task] = Registry("task")


class Task(abc.ABC):
    """Base of the three tasks; see the module docstring for the interface."""

    name = ""
    output_rule = ""
    exclusive = False  # one class per clip: probabilities are a softmax and sum to 1
    negative_first = False  # labels[0] is "nothing detected" (a detector's negative class)
    accuracy_metric = "accuracy"  # the `compute_metrics` "overall" key export and ensembles report

    def num_outputs(self, num_classes: int) -> int:
        """Logits per clip for ``num_classes`` classes (a `ConfigError` if they do not fit the task)."""
        _check_int(num_classes)
        if num_classes < 1:
            raise ConfigError(f"num_classes = {num_classes}; expected at least 1")
        return num_classes

    def num_labels(self, num_classes: int) -> int:
        """Labels a model of ``num_classes`` classes names (a binary model: 2, for its one logit)."""
        return num_classes

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``[..., K]`` → probabilities in the model's output space ``[..., K]``."""
        return logits.sigmoid()

    def label_probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits ``[..., K]`` (numpy) → float32 probabilities, one per label."""
        return (1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))).astype(np.float32)

    @abc.abstractmethod
    def loss(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        *,
        label_smoothing: float = 0.0,
        class_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The training loss (mean over the batch) of ``logits [B, K]`` against ``target``."""

    @abc.abstractmethod
    def hits(self, probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Per clip: is the top-1 decision on ``probs [N, K]`` right? (bool ``[N]``)"""

    def decide(self, probs: np.ndarray, labels: list[str]) -> tuple[str | list[str], float]:
        """One clip's answer from its label probabilities ``[len(labels)]``: ``(label, score)``."""
        j = int(np.argmax(probs))
        return labels[j], float(probs[j])

    def likelihood(self, probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The probability ``probs [..., N, K]`` gives the truth: ``[..., N]`` (the true class) or,
        for sigmoid tasks, ``[..., N, K]`` (each tag's presence or absence)."""
        t = np.asarray(targets, dtype=np.float64).reshape(probs.shape[-2:])
        return np.where(t > 0, probs, 1 - probs)

    def log_loss(self, probs: np.ndarray, targets: np.ndarray) -> float:
        """Mean negative log-likelihood of ``targets`` under ``probs [N, K]`` (numpy, output space)."""
        p = np.clip(probs, EPS, 1 - EPS)
        t = np.asarray(targets, dtype=np.float64).reshape(p.shape)
        return float(-np.mean(t * np.log(p) + (1 - t) * np.log1p(-p)))

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


@TASKS.register("multiclass", help="one class per clip; softmax over the classes")
class Multiclass(Task):
    name = "multiclass"
    output_rule = "softmax over the labels"
    exclusive = True

    def num_outputs(self, num_classes: int) -> int:
        _check_int(num_classes)
        if num_classes < 2:
            raise ConfigError(f"task 'multiclass' needs num_classes >= 2, got {num_classes}; use task 'binary'")
        return num_classes

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(-1)

    def label_probabilities(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, dtype=np.float64)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def loss(self, logits, target, *, label_smoothing=0.0, class_weights=None):
        # target: class ids [B], or probabilities [B, K] after mixup
        from torch.nn.functional import cross_entropy

        return cross_entropy(logits, target, weight=class_weights, label_smoothing=label_smoothing)

    def hits(self, probs, targets):
        return np.asarray(probs).argmax(-1) == np.asarray(targets)

    def likelihood(self, probs, targets):
        return probs[..., np.arange(probs.shape[-2]), targets]

    def log_loss(self, probs, targets):
        p = np.clip(probs, EPS, 1 - EPS)
        return float(-np.mean(np.log(p[np.arange(len(p)), targets])))


@TASKS.register("binary", help="a detector: one logit, sigmoid = P(labels[1])")
class Binary(Task):
    name = "binary"
    output_rule = "sigmoid = P(labels[1])"
    negative_first = True

    def num_labels(self, num_classes: int) -> int:
        return 2

    def num_outputs(self, num_classes: int) -> int:
        _check_int(num_classes)
        if num_classes not in (1, 2):
            raise ConfigError(f"task 'binary' takes num_classes 1 or 2 (one logit), got {num_classes}")
        return 1

    def label_probabilities(self, logits: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)[..., :1]))
        return np.concatenate([1.0 - p, p], axis=-1).astype(np.float32)

    def loss(self, logits, target, *, label_smoothing=0.0, class_weights=None):
        if target.dim() == 2:  # mixup's [B, 2] → probability of the positive class
            target = target[:, 1]
        target = target.to(logits.dtype).reshape(logits.shape)
        if label_smoothing:
            target = target * (1 - label_smoothing) + 0.5 * label_smoothing
        from torch.nn.functional import binary_cross_entropy_with_logits

        return binary_cross_entropy_with_logits(logits, target)

    def hits(self, probs, targets):
        return (np.asarray(probs).reshape(-1) >= PRESENT_AT) == (np.asarray(targets).reshape(-1) > 0)


@TASKS.register("multilabel", help="any number of tags per clip; a sigmoid per tag")
class Multilabel(Task):
    name = "multilabel"
    output_rule = "sigmoid per label"
    accuracy_metric = "top1_accuracy"

    def loss(self, logits, target, *, label_smoothing=0.0, class_weights=None):
        target = target.to(logits.dtype).reshape(logits.shape)
        from torch.nn.functional import binary_cross_entropy_with_logits

        return binary_cross_entropy_with_logits(logits, target, pos_weight=class_weights)

    def hits(self, probs, targets):
        t = np.asarray(targets)
        return t[np.arange(len(t)), np.asarray(probs).argmax(-1)] > 0

    def decide(self, probs, labels):
        present = [j for j in np.argsort(-probs, kind="stable") if probs[j] >= PRESENT_AT]
        return [labels[j] for j in present], float(probs.max())


def _check_int(num_classes: Any) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool):
        raise ConfigError(f"num_classes = {num_classes!r}; expected an integer")


def get_task(task: str | Task) -> Task:
    """The task called ``task`` (a `Task` is returned as is); a `ConfigError` naming the choices."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ConfigError(f"task = {task!r}; expected one of {', '.join(TASK_NAMES)}")
    return TASKS.get(task)()


TASK_NAMES = ("multiclass", "multilabel", "binary")  # the order docs and --help list them in


def task_of(obj: Any) -> Task:
    """The `Task` of a model, predictor or config (anything with a ``task`` name)."""
    return get_task(getattr(obj, "task", obj))
