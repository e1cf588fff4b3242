"""Ensembles: the combination rules on hand-made probabilities, the weight search, an ensemble
model directory through load/predict/evaluate/export, ``wavetag ensemble`` and the refusals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_semi_common import make_noisy_pack, tiny_config

from wavetag.cli import main
from wavetag.data import Pack
from wavetag.data.splits import SPLIT_CODES
from wavetag.errors import ConfigError, DataError
from wavetag.evaluate.run import evaluate
from wavetag.export import export, read_metadata
from wavetag.inference.predictor import Predictor
from wavetag.models import create_model, load_model_dir, save_model_dir
from wavetag.models.ensemble import Ensemble, combine_logits
from wavetag.semi.ensemble import build_ensemble, combine_probabilities, log_loss, member_diversity, search_weights
from wavetag.train import train

P1 = [0.7, 0.2, 0.1]
P2 = [0.1, 0.6, 0.3]


def ensemble_probs(members: list[list[float]], weights, *, method: str, task: str = "multiclass") -> np.ndarray:
    """Run `combine_logits` on logits whose softmax/sigmoid are ``members``; back to probabilities."""
    p = torch.tensor(members, dtype=torch.float64).unsqueeze(1)  # (M, 1, K)
    logits = p.log() if task == "multiclass" else p.log() - (1 - p).log()
    out = combine_logits(logits, torch.tensor(weights, dtype=torch.float64), task=task, method=method)
    return (out.softmax(-1) if task == "multiclass" else out.sigmoid())[0].numpy()


def test_combination_rules_on_hand_made_probabilities():
    np.testing.assert_allclose(ensemble_probs([P1, P2], [0.5, 0.5], method="mean"), [0.4, 0.4, 0.2], atol=1e-12)
    np.testing.assert_allclose(ensemble_probs([P1, P2], [0.75, 0.25], method="weighted"), [0.55, 0.3, 0.15], atol=1e-12)
    geo = np.sqrt(np.multiply(P1, P2))
    np.testing.assert_allclose(ensemble_probs([P1, P2], [0.5, 0.5], method="geometric"), geo / geo.sum(), atol=1e-12)
    # sigmoid tasks: arithmetic mean per class; geometric = renormalised geometric mean of the Bernoullis
    np.testing.assert_allclose(
        ensemble_probs([[0.9, 0.2], [0.5, 0.6]], [0.5, 0.5], method="mean", task="multilabel"), [0.7, 0.4], atol=1e-12
    )
    np.testing.assert_allclose(
        ensemble_probs([[0.9, 0.2], [0.5, 0.6]], [0.5, 0.5], method="geometric", task="multilabel"),
        [0.75, np.sqrt(0.12) / (np.sqrt(0.12) + np.sqrt(0.32))],
        atol=1e-12,
    )
    for method, w in (("mean", [1, 1]), ("weighted", [3, 1]), ("geometric", [1, 1])):  # the numpy reference agrees
        np.testing.assert_allclose(
            combine_probabilities(np.array([[P1], [P2]]), w, method=method, task="multiclass")[0],
            ensemble_probs([P1, P2], np.array(w) / sum(w), method=method),
            atol=1e-6,
        )


def test_weight_search_favours_the_informative_member():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 200)
    good = np.full((200, 3), 0.05)
    good[np.arange(200), targets] = 0.9
    noise = rng.dirichlet(np.ones(3), 200)
    w = search_weights(np.stack([noise, good]), targets, task="multiclass")
    assert w.sum() == pytest.approx(1.0) and w[1] > 0.9
    single = search_weights(np.stack([noise, good]), targets, task="multiclass", bootstrap=0)  # the plain optimum
    mixed = combine_probabilities(np.stack([noise, good]), single, method="weighted", task="multiclass")
    assert log_loss(mixed, targets, task="multiclass") <= log_loss(good, targets, task="multiclass") + 1e-9
    # two members alike: the plain optimum is a corner, the bootstrap average shares the weight
    twin = np.clip(good + rng.normal(0, 0.02, good.shape), 0.01, None)
    twin /= twin.sum(1, keepdims=True)
    assert 0.1 < search_weights(np.stack([good, twin]), targets, task="multiclass")[0] < 0.9
    labels = (rng.random((200, 4)) < 0.3).astype(float)  # multilabel: probabilities of each tag
    sharp, vague = np.where(labels > 0, 0.8, 0.1), np.full((200, 4), 0.5)
    assert search_weights(np.stack([vague, sharp]), labels, task="multilabel")[1] > 0.9


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    path, _ = make_noisy_pack(root)
    runs = []
    for k, n_mels in enumerate((20, 32)):  # different front ends: each member carries its own
        config = tiny_config(seed=k, epochs=6, frontend={"name": "logmel", "n_mels": n_mels, "normalize": "utterance"})
        runs.append(train(path, config, root / f"member{k}", progress=False, verbose=False).run_dir)
    return Pack.open(path), runs, root


def test_ensemble_directory_loads_predicts_evaluates_and_exports(members, tmp_path):
    pack, runs, _ = members
    out = build_ensemble(runs, tmp_path / "ens", method="geometric")
    model, config = load_model_dir(out)
    assert isinstance(model, Ensemble) and model.method == "geometric" and config["labels"] == pack.labels
    assert config["ensemble"]["members"] == [str(r / "best") for r in runs] and config["model"]["name"] == "ensemble"
    wav = torch.from_numpy(np.stack([pack.waveform(i) for i in range(4)])).unsqueeze(1)
    parts = [load_model_dir(r / "best")[0] for r in runs]
    with torch.no_grad():
        member_probs = np.stack([m.probabilities(m(wav)).numpy() for m in parts])
        got = model.probabilities(model(wav)).numpy()
        assert model.forward_features(wav).shape == (4, 128)
    np.testing.assert_allclose(
        got, combine_probabilities(member_probs, [1, 1], method="geometric", task="multiclass"), atol=1e-5
    )
    prediction = Predictor.load(out).predict(pack.waveform(0), sample_rate=pack.sample_rate)
    assert prediction.label in pack.labels and prediction.probs.shape == (3,)
    result = evaluate(out, pack, split="test", out=tmp_path / "report")
    assert result.metrics["model"]["name"] == "ensemble" and result.report.metrics_json.is_file()
    report = export(out, tmp_path / "ens.onnx")
    assert report.max_abs_diff <= 1e-4 and read_metadata(report.onnx_path)["model"] == "ensemble"


def test_weighted_ensemble_searches_weights_on_validation(members, tmp_path, capsys):
    pack, runs, _ = members
    with pytest.raises(SystemExit) as done:
        main(["ensemble", *map(str, runs), "-o", str(tmp_path / "w"), "--method", "weighted", "--pack", str(pack.path)])
    assert done.value.code == 0
    info = json.loads((tmp_path / "w" / "config.json").read_text())["ensemble"]
    assert info["method"] == "weighted" and sum(info["weights"]) == pytest.approx(1.0) and len(info["weights"]) == 2
    val = info["validation"]
    assert val["clips"] == len(pack.split_indices("validation")) and len(val["members"]) == 2
    assert val["ensemble"]["log_loss"] <= max(m["log_loss"] for m in val["members"]) + 1e-9  # convexity
    assert "ensemble: validation accuracy" in capsys.readouterr().out
    with pytest.raises(
        ConfigError, match=r"method 'weighted' searches the weights on the validation split: give the pack"
    ):
        build_ensemble(runs, tmp_path / "nope", method="weighted")


def test_members_that_do_not_fit_together_are_refused(members, tmp_path):
    pack, runs, _ = members
    other_labels = save_model_dir(
        create_model("ds_cnn_s", num_classes=3, sample_rate=8000, clip_seconds=0.5),
        tmp_path / "labels",
        extra={"labels": ["high", "low", "bird"]},
    )
    with pytest.raises(
        DataError, match=r"different label sets \(only in .*member0/best: \['mid'\]; only in .*labels: \['bird'\]\)"
    ):
        build_ensemble([runs[0], other_labels], tmp_path / "x")
    other_rate = save_model_dir(
        create_model("ds_cnn_s", num_classes=3, sample_rate=16000, clip_seconds=0.5),
        tmp_path / "rate",
        extra={"labels": pack.labels},
    )
    with pytest.raises(DataError, match=r"differ in sample rate: 8000 Hz vs 16000 Hz"):
        build_ensemble([runs[0], other_rate], tmp_path / "x")
    other_task = save_model_dir(
        create_model("ds_cnn_s", num_classes=3, task="multilabel", sample_rate=8000, clip_seconds=0.5),
        tmp_path / "task",
        extra={"labels": pack.labels},
    )
    with pytest.raises(DataError, match=r"differ in task: multiclass vs multilabel"):
        build_ensemble([runs[0], other_task], tmp_path / "x")
    with pytest.raises(ConfigError, match="at least two models"):
        build_ensemble([runs[0]], tmp_path / "x")
    with pytest.raises(ConfigError, match="method 'mean' takes equal weights"):
        build_ensemble(runs, tmp_path / "x", weights=[0.2, 0.8])


def test_spec_rebuilds_and_members_must_agree():
    model = create_model(
        "ensemble", num_classes=4, sample_rate=8000, clip_seconds=0.5, method="weighted", weights=[3, 1]
    )
    assert model.weight_values == (0.75, 0.25) and create_model(**json.loads(json.dumps(model.spec))).spec == model.spec
    a = create_model("ds_cnn_s", num_classes=4, sample_rate=8000, clip_seconds=0.5)
    b = create_model("ds_cnn_s", num_classes=4, sample_rate=8000, clip_seconds=1.0)
    with pytest.raises(
        ConfigError, match=r"members differ in clip_seconds: member 0 \(ds_cnn_s\) has 0.5, member 1 \(ds_cnn_s\) 1.0"
    ):
        Ensemble([a, b])


def test_member_diversity_on_hand_made_decisions():
    targets = np.array([0, 1, 2, 0])
    onehot = lambda picks: np.eye(3)[picks]  # noqa: E731  (a member's probabilities that pick these classes)
    a, b, c = onehot([0, 1, 1, 1]), onehot([0, 1, 1, 1]), onehot([1, 1, 2, 0])  # a, b: the same 2 mistakes
    same = member_diversity(np.stack([a, b]), targets, task="multiclass")
    assert same == {"error_overlap": 1.0, "disagreement": 0.0, "oracle_accuracy": 0.5}
    other = member_diversity(np.stack([a, c]), targets, task="multiclass")  # a wrong on 2, 3; c wrong on 0: no overlap
    assert other == {"error_overlap": 0.0, "disagreement": 0.75, "oracle_accuracy": 1.0}
    binary = member_diversity(np.array([[0.9, 0.2, 0.6], [0.8, 0.7, 0.1]]), np.array([1, 0, 0]), task="binary")
    assert binary == {"error_overlap": 0.0, "disagreement": round(2 / 3, 4), "oracle_accuracy": 1.0}


def test_members_of_other_families_and_label_views(members, tmp_path):
    """A log-mel CNN on the given labels and a waveform CNN on the verified clips only: one
    ensemble; its validation block says how differently they err."""
    pack, runs, root = members
    verified_only = pack.with_labels(
        include=pack.index.verified.astype(bool) | (pack.index.split != SPLIT_CODES["train"])
    )
    wave = dataclasses.replace(
        tiny_config(model="cnn1d", epochs=2, model_args={"stages": [[8], [16], [16]], "dense_dim": 16}),
        frontend={"name": "waveform", "normalize": "rms"},
    )
    wave_run = train(verified_only, wave, root / "wave_verified", progress=False, verbose=False).run_dir
    out = build_ensemble([runs[0], wave_run], tmp_path / "mixed", method="mean", pack=pack)
    model, config = load_model_dir(out)
    assert [m.input_kind for m in model.backbone.members] == ["image", "waveform"]
    val = config["ensemble"]["validation"]
    assert set(val["diversity"]) == {"error_overlap", "disagreement", "oracle_accuracy"}
    assert val["diversity"]["oracle_accuracy"] >= max(m["accuracy"] for m in val["members"])
    beats = val["ensemble"]["accuracy"] > max(m["accuracy"] for m in val["members"])
    assert ("note" in val) != beats and (beats or "does not beat its best member" in val["note"])
    assert export(out, tmp_path / "mixed.onnx").max_abs_diff <= 1e-4


def test_train_apart_trains_each_member_on_its_own_loss():
    import torch.nn.functional as F

    from wavetag.models import create_model

    model = create_model("ensemble", num_classes=3, clip_seconds=0.5, train_apart=True)
    assert model.spec["kwargs"]["train_apart"] is True
    model.train()
    x, y = torch.randn(4, 1, 8000) * 0.1, torch.tensor([0, 1, 2, 0])
    torch.manual_seed(0)
    logits = model(x)
    loss = model.training_loss(logits, lambda z: F.cross_entropy(z, y))
    torch.manual_seed(0)
    members = model.member_logits(x)  # the same dropout draws, member by member
    expected = torch.stack([F.cross_entropy(z, y) for z in members]).mean()
    assert torch.allclose(loss, expected, atol=1e-5)
    assert not torch.allclose(loss, F.cross_entropy(logits, y))  # not the mixture's loss
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()  # evaluation never keeps member logits: the combined loss
    logits = model(x)
    assert torch.equal(model.training_loss(logits, lambda z: F.cross_entropy(z, y)), F.cross_entropy(logits, y))
