"""The Task objects: one place for each task's probabilities, loss, decision and accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wavetag.errors import ConfigError
from wavetag.tasks import TASK_NAMES, TASKS, get_task


def test_registry_holds_the_three_tasks():
    assert sorted(TASK_NAMES) == TASKS.names()
    assert get_task("binary") is not get_task("binary") and get_task(get_task("binary")).name == "binary"
    with pytest.raises(ConfigError, match=r"task = 'multi'; expected one of multiclass, multilabel, binary"):
        get_task("multi")


@pytest.mark.parametrize(
    "task, num_classes, outputs", [("multiclass", 3, 3), ("multilabel", 1, 1), ("binary", 2, 1), ("binary", 1, 1)]
)
def test_num_outputs(task, num_classes, outputs):
    assert get_task(task).num_outputs(num_classes) == outputs


@pytest.mark.parametrize(
    "task, num_classes, message",
    [
        ("multiclass", 1, "needs num_classes >= 2"),
        ("binary", 3, "takes num_classes 1 or 2"),
        ("multilabel", 0, "at least 1"),
    ],
)
def test_num_outputs_refuses(task, num_classes, message):
    with pytest.raises(ConfigError, match=message):
        get_task(task).num_outputs(num_classes)


def test_losses_are_the_torch_losses():
    torch.manual_seed(0)
    z, ids = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    w = torch.tensor([1.0, 2.0, 0.5])
    assert torch.equal(
        get_task("multiclass").loss(z, ids, label_smoothing=0.1, class_weights=w),
        F.cross_entropy(z, ids, weight=w, label_smoothing=0.1),
    )
    hot = (torch.rand(5, 3) > 0.5).float()
    assert torch.equal(
        get_task("multilabel").loss(z, hot, class_weights=w), F.binary_cross_entropy_with_logits(z, hot, pos_weight=w)
    )
    one, y = z[:, :1], torch.tensor([0, 1, 1, 0, 1])
    want = F.binary_cross_entropy_with_logits(one, y.float().view(-1, 1) * 0.8 + 0.1)
    assert torch.equal(get_task("binary").loss(one, y, label_smoothing=0.2), want)
    mixed = torch.stack([1 - y.float(), y.float()], dim=1)  # mixup's [B, 2] gives the same as the ids
    assert torch.equal(get_task("binary").loss(one, mixed), get_task("binary").loss(one, y))


def test_label_probabilities_and_decisions():
    z = np.array([[2.0, 0.0, -1.0]])
    p = get_task("multiclass").label_probabilities(z)
    assert p.shape == (1, 3) and np.isclose(p.sum(), 1.0)
    assert get_task("multiclass").decide(p[0], ["a", "b", "c"]) == ("a", pytest.approx(float(p[0, 0])))
    pb = get_task("binary").label_probabilities(np.array([[0.0]]))
    np.testing.assert_allclose(pb, [[0.5, 0.5]])
    pm = get_task("multilabel").label_probabilities(z)
    assert get_task("multilabel").decide(pm[0], ["a", "b", "c"])[0] == ["a", "b"]  # sigmoid(0) = 0.5 is present


def test_hits_likelihood_and_log_loss():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    mc = get_task("multiclass")
    assert mc.hits(probs, np.array([0, 1])).tolist() == [True, False]
    np.testing.assert_allclose(mc.likelihood(probs, np.array([0, 1])), [0.7, 0.3])
    assert mc.log_loss(probs, np.array([0, 1])) == pytest.approx(-np.mean(np.log([0.7, 0.3])))
    ml, tags = get_task("multilabel"), np.array([[1, 0, 1], [0, 0, 1]])
    assert ml.hits(probs, tags).tolist() == [True, True]
    assert ml.log_loss(probs, tags) == pytest.approx(-np.mean(np.log(ml.likelihood(probs, tags))))
    assert get_task("binary").hits(np.array([[0.9], [0.4], [0.5]]), np.array([1, 1, 0])).tolist() == [
        True,
        False,
        False,
    ]
