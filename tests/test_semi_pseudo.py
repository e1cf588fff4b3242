"""Pseudo-labelling: the lower-bound schedule, the selection rule on hand-made probabilities, a
2-round run on a tiny pack, ``wavetag train --semi`` and the refused bounds."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from test_semi_common import make_noisy_pack, tiny_config

from wavetag.cli import main
from wavetag.data import Pack
from wavetag.errors import ConfigError, DataError
from wavetag.evaluate.run import evaluate
from wavetag.semi.common import NOISE_FLOOR, LabelNoiseWarning
from wavetag.semi.pseudo import check_bounds, lower_bounds, parse_bounds, select_pseudo_labels, train_semi


@pytest.fixture(scope="module")
def pack_path(tmp_path_factory):
    return make_noisy_pack(tmp_path_factory.mktemp("pseudo"))[0]


def test_lower_bound_schedule():
    assert lower_bounds(3, (0.35, 0.65)) == [None, 0.35, 0.65]
    assert lower_bounds(5, (0.35, 0.65)) == [None, 0.35, 0.45, 0.55, 0.65]
    assert lower_bounds(2, (0.35, 0.65)) == [None, 0.35]
    assert lower_bounds(1, (0.35, 0.65)) == [None]
    assert lower_bounds(3, (0.8, 0.8)) == [None, 0.8, 0.8]
    assert parse_bounds("0.35,0.65") == (0.35, 0.65) and parse_bounds("0.5") == (0.5, 0.5)


def test_selection_keeps_probabilities_between_the_bounds():
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # top 0.90: in [0.5, 0.95]
            [0.40, 0.35, 0.25],  # top 0.40: below
            [0.02, 0.97, 0.01],  # top 0.97: above the upper bound
            [0.20, 0.30, 0.50],  # top exactly 0.50: in (bounds inclusive)
            [0.05, 0.05, 0.90],
        ]
    )
    selected, predicted, top = select_pseudo_labels(probs, lower=0.5, upper=0.95)
    assert selected.tolist() == [True, False, False, True, True]
    assert predicted.tolist() == [0, 0, 1, 2, 2] and top.tolist() == [0.90, 0.40, 0.97, 0.50, 0.90]
    binary = np.array([[0.1], [0.55], [0.8], [0.45]])  # P(positive)
    selected, predicted, top = select_pseudo_labels(binary, lower=0.7, upper=1.0)
    assert selected.tolist() == [True, False, True, False] and predicted.tolist() == [0, 1, 1, 0]
    np.testing.assert_allclose(top, [0.9, 0.55, 0.8, 0.55])


@pytest.mark.parametrize(
    "lower, upper, rounds, message",
    [
        ((0.7, 0.9), 0.8, 3, r"semi lower bound 0.9 \(--semi-lower\) > upper bound 0.8 \(--semi-upper\)"),
        (
            (-0.1, 0.5),
            1.0,
            3,
            r"semi lower start bound = -0.1 \(--semi-lower\) is out of range; expected a probability in \[0, 1\]",
        ),
        ((0.3, 0.5), 1.5, 3, r"semi upper bound = 1.5 \(--semi-upper\) is out of range"),
        ((0.3, 0.5), 1.0, 0, r"rounds = 0 \(--rounds\); expected an integer >= 1"),
    ],
)
def test_bounds_out_of_range(lower, upper, rounds, message):
    with pytest.raises(ConfigError, match=message):
        check_bounds(lower, upper, rounds)


def test_given_labels_as_evidence_in_the_selection():
    from wavetag.semi.common import noise_from_agreement, noisy_label_posterior

    probs = np.array([[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])  # the model alone: class 0 at 0.5, class 2 at 0.6
    post = noisy_label_posterior(
        probs, np.array([1, 2]), np.arange(3), 0.2
    )  # given labels 1 and 2, right 80 % of the time
    selected, predicted, top = select_pseudo_labels(post, lower=0.65, upper=1.0)
    assert predicted.tolist() == [1, 2] and selected.tolist() == [True, True]  # 0.32/0.38 = 0.84; 0.48/0.52 = 0.92
    np.testing.assert_allclose(top, [0.32 / 0.38, 0.48 / 0.52])
    # a model right 90 % of the time that agrees with 66 % of 6-class labels: 30 % of them are wrong
    assert noise_from_agreement(0.9, 0.9 * 0.7 + 0.1 * 0.3 / 5, 6) == pytest.approx(0.3)
    assert noise_from_agreement(0.1, 0.5, 6) == 0.0  # a predictor at chance says nothing: the given labels stand


def test_bad_bounds_refused_before_training(pack_path, tmp_path):
    with pytest.raises(ConfigError, match="> upper bound"):
        train_semi(pack_path, tiny_config(), tmp_path / "semi", lower=(0.9, 0.9), upper=0.5)
    assert not (tmp_path / "semi").exists()
    with pytest.raises(ConfigError, match=r"--semi-lower 'abc'; expected START,END"):
        parse_bounds("abc")
    with pytest.raises(
        ConfigError, match=r"label_noise = 1.5 \(--semi-label-noise\); expected 'auto', 'none' or a share in \[0, 1\)"
    ):
        train_semi(pack_path, tiny_config(), tmp_path / "semi", label_noise=1.5)


@pytest.mark.filterwarnings(
    "ignore::wavetag.semi.common.LabelNoiseWarning"
)  # 2 epochs on this pack: round 0 is at chance
def test_two_round_run_writes_history_and_best(pack_path, tmp_path):
    pack = Pack.open(pack_path)
    result = train_semi(
        pack,
        tiny_config(),
        tmp_path / "semi",
        rounds=2,
        epochs_per_round=2,
        lower=(0.0, 0.0),
        progress=False,
        verbose=False,
    )
    out = tmp_path / "semi"
    with open(out / "semi_history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["round"] for r in rows] == ["0", "1"] and rows[0]["lower"] == "" and float(rows[1]["lower"]) == 0.0
    verified = int(pack.index.verified[pack.split_indices("train")].sum())
    assert int(rows[0]["clips_used"]) == verified and int(rows[0]["pseudo_labelled"]) == 0
    # lower bound 0: every one of the 30 candidates is pseudo-labelled in round 1
    assert int(rows[1]["pseudo_labelled"]) == 30 and int(rows[1]["clips_used"]) == verified + 30
    assert float(rows[1]["val_value"]) == pytest.approx(result.rounds[1]["val_value"], rel=1e-5)
    pseudo = (out / "round_1" / "pseudo_labels.csv").read_text().splitlines()
    assert pseudo[0] == "index,path,given_label,pseudo_label,probability" and len(pseudo) == 1 + 30
    for name in (
        "round_0/best/config.json",
        "round_1/history.csv",
        "best/model.safetensors",
        "config.yaml",
        "semi.json",
    ):
        assert (out / name).is_file(), name
    assert result.best_dir == out / "best" and result.best_round in (0, 1)
    assert "round 1: lower 0.000" in result.summary()
    noise = rows[1][
        "label_noise"
    ]  # "auto": estimated from round 0's validation accuracy and its agreement with the given labels
    assert noise == "" or 0.0 <= float(noise) <= 2 / 3
    metrics = evaluate(out, pack, split="test", out=tmp_path / "report").metrics
    assert 0.0 <= metrics["overall"]["accuracy"] <= 1.0


def test_a_round_0_model_at_chance_is_reported_and_the_estimate_capped(pack_path, tmp_path):
    """lr 1e-7: round 0 learns nothing, so its agreement with the given labels says nothing."""
    with pytest.warns(
        LabelNoiseWarning,
        match=r"the round-0 model is at chance: accuracy 0\.\d\d on 12 verified clips .*"
        r"label-noise estimate \(0\.\d\d\) means nothing, so 0\.05 was used",
    ):
        result = train_semi(
            pack_path,
            tiny_config(epochs=1, optimizer={"lr": 1e-7}),
            tmp_path / "semi",
            rounds=2,
            lower=(0.5, 0.5),
            progress=False,
            verbose=False,
        )
    assert result.rounds[1]["label_noise"] == NOISE_FLOOR
    assert any("at chance" in n for n in result.notes) and "note: the round-0 model is at chance" in result.summary()
    semi = json.loads((tmp_path / "semi" / "semi.json").read_text())
    assert any("at chance" in n for n in semi["notes"])


def test_nothing_to_pseudo_label_trains_round_0_only(pack_path, tmp_path):
    pack = Pack.open(pack_path)
    result = train_semi(
        pack.with_labels(verified=np.ones(len(pack), bool)),
        tiny_config(epochs=1),
        tmp_path / "s",
        rounds=3,
        progress=False,
        verbose=False,
    )
    assert len(result.rounds) == 1 and "nothing to pseudo-label" in result.notes[-1]
    assert not (tmp_path / "s" / "round_1").exists() and (tmp_path / "s" / "best" / "config.json").is_file()


def test_class_without_verified_clips_is_refused(pack_path, tmp_path):
    pack = Pack.open(pack_path)
    low = pack.labels.index("low")
    with pytest.raises(DataError, match=r"class\(es\) 'low'"):
        train_semi(
            pack.with_labels(verified=pack.index.verified & (pack.index.label != low)), tiny_config(), tmp_path / "s"
        )


@pytest.mark.filterwarnings(
    "ignore::wavetag.semi.common.LabelNoiseWarning"
)  # 2 epochs on this pack: round 0 is at chance
def test_train_command_semi(pack_path, tmp_path, capsys):
    args = [
        "train",
        str(pack_path),
        "--semi",
        "--rounds",
        "2",
        "--semi-lower",
        "0.5",
        "--epochs-per-round",
        "1",
        "--model",
        "ds_cnn_s",
        "--frontend",
        "logmel",
        "--frontend-set",
        "n_mels=20",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--no-progress",
        "-o",
        str(tmp_path / "cli"),
    ]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    assert "semi-supervised: 2 rounds" in capsys.readouterr().out
    assert (tmp_path / "cli" / "best" / "config.json").is_file()
    with pytest.raises(SystemExit) as done:
        main([*args[:-1], str(tmp_path / "bad"), "--semi-lower", "0.9", "--semi-upper", "0.5"])
    assert done.value.code == 1 and "--semi-upper" in capsys.readouterr().err
