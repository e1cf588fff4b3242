"""Noisy-label data: the manually_verified flag through prepare, label views of a pack, pack copies,
and the seed checks relabel and pseudo-labelling share. Also the tiny noisy pack the other
``test_semi_*`` modules build on (`make_noisy_pack`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavetag.config import config_from_dict, merge_dicts
from wavetag.data import Pack, prepare
from wavetag.data.pack import EXCLUDED_SPLIT
from wavetag.errors import DataError
from wavetag.semi.common import check_seed_classes, seeds_and_candidates
from wavetag.semi.pack_copy import write_pack_copy
from wavetag.train import TrainConfig

SR = 8000
CLASSES = {"low": 300.0, "mid": 900.0, "high": 2500.0}
SPLIT_SIZES = {"train": 16, "validation": 4, "test": 4}  # clips per class
VERIFIED_TRAIN = 6  # of the 16 train clips per class; the other 10 are unverified
WRONG_UNVERIFIED = 3  # of the 10 unverified per class, this many carry another class's label


def make_noisy_pack(root: Path, *, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A CSV source (fname,label,manually_verified,split) of 0.5-s tones, prepared into ``root/pack``.

    Returns the pack path and the true class id of every pack clip. Validation and test clips are
    all verified and right; in the train split, 3 of each class's 10 unverified labels are wrong.
    """
    rng = np.random.default_rng(seed)
    names, t = list(CLASSES), np.arange(SR // 2) / SR
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows, truth_by_file = [], {}
    for c, (name, freq) in enumerate(CLASSES.items()):
        for split, count in SPLIT_SIZES.items():
            for i in range(count):
                x = 0.3 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t) + 0.02 * rng.standard_normal(len(t))
                fname = f"{name}_{split}_{i}.wav"
                sf.write(root / "audio" / fname, x.astype(np.float32), SR, subtype="PCM_16")
                verified = split != "train" or i < VERIFIED_TRAIN
                wrong = split == "train" and VERIFIED_TRAIN <= i < VERIFIED_TRAIN + WRONG_UNVERIFIED
                label = names[(c + 1 + i % 2) % len(names)] if wrong else name
                rows.append([fname, label, int(verified), split])
                truth_by_file[fname] = name
    with open(root / "audio" / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([["fname", "label", "manually_verified", "split"], *rows])
    prepare(root / "audio" / "train.csv", root / "pack", sample_rate=SR, clip_seconds=0.5, jobs=1, progress=False)
    pack = Pack.open(root / "pack")
    return root / "pack", np.array([pack.labels.index(truth_by_file[p]) for p in pack.index.path], np.int32)


def tiny_config(**overrides) -> TrainConfig:
    """A ds_cnn_s on 20 log-mels, 2 epochs, one thread: seconds on the tiny pack."""
    base = {
        "model": "ds_cnn_s",
        "epochs": 2,
        "batch_size": 16,
        "threads": 1,
        "tensorboard": False,
        "tune_detection": False,
        "frontend": {"name": "logmel", "n_mels": 20, "normalize": "utterance"},
        "augment": {"background_noise": {"p": 0.0}},
        "optimizer": {"lr": 3e-3},
        "confusion_image": False,
    }
    return config_from_dict(TrainConfig, merge_dicts(base, overrides))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> tuple[Pack, np.ndarray]:
    path, truth = make_noisy_pack(tmp_path_factory.mktemp("noisy"))
    return Pack.open(path), truth


def test_manually_verified_flows_from_csv_into_the_pack(noisy):
    pack, truth = noisy
    train = pack.split_indices("train")
    assert pack.index.verified[train].sum() == 3 * VERIFIED_TRAIN
    assert pack.index.verified[pack.split_indices("test")].all()
    wrong = pack.index.label != truth
    assert wrong.sum() == 3 * WRONG_UNVERIFIED and not (wrong & pack.index.verified).any()


def test_label_view_replaces_labels_and_leaves_clips_out(noisy):
    pack, truth = noisy
    include = np.ones(len(pack), bool)
    dropped = pack.split_indices("train")[:5]
    include[dropped] = False
    view = pack.with_labels(truth, include=include)
    assert np.array_equal(view.index.label, truth) and not np.array_equal(pack.index.label, truth)
    assert set(view.split_indices("train")) == set(pack.split_indices("train")) - set(dropped.tolist())
    assert len(view.split_indices("all")) == len(pack) and (view.index.split[dropped] == EXCLUDED_SPLIT).all()
    assert np.array_equal(view.split_indices("test"), pack.split_indices("test"))
    assert sum(view.counts()["train"].values()) == len(pack.split_indices("train")) - 5
    assert sum(pack.counts()["train"].values()) == len(pack.split_indices("train"))  # the pack itself is unchanged
    np.testing.assert_array_equal(view.clip(3), pack.clip(3))
    assert view.audio is pack.audio  # the samples are shared, not copied


def test_label_view_checks_its_arrays(noisy):
    pack, _ = noisy
    with pytest.raises(DataError, match=r"label: shape \(3,\), expected \(72,\)"):
        pack.with_labels(np.zeros(3, np.int32))
    with pytest.raises(DataError, match=r"expected -1 \(none\) or 0..2"):
        pack.with_labels(np.full(len(pack), 7))
    with pytest.raises(DataError, match="a single-label pack takes label="):
        pack.with_labels(labels=np.zeros((len(pack), 3)))


def test_pack_copy_round_trip_shares_the_samples(noisy, tmp_path):
    pack, truth = noisy
    view = pack.with_labels(truth, verified=np.ones(len(pack), bool))
    out = write_pack_copy(
        view,
        tmp_path / "copy",
        info={"relabel": {"note": "test"}},
        index_extra={"given_label": pack.index.label},
        csv_extra={"given": pack.index.label},
    )
    copy = Pack.open(out)
    assert np.array_equal(copy.index.label, truth) and copy.index.verified.all()
    assert copy.info["relabel"]["note"] == "test" and copy.info["checksum"] != pack.info["checksum"]
    assert copy.counts() == view.counts() and copy.info["audio_crc32"] == pack.info["audio_crc32"]
    assert os.stat(out / "audio.int16").st_ino == os.stat(pack.path / "audio.int16").st_ino  # hard link
    with np.load(out / "index.npz") as z:
        assert np.array_equal(z["given_label"], pack.index.label)
    assert "given" in (out / "index.csv").read_text().splitlines()[0]
    np.testing.assert_array_equal(copy.waveform(5), pack.waveform(5))
    with pytest.raises(DataError, match="is the pack being relabelled"):
        write_pack_copy(view, pack.path, info={})
    with pytest.raises(DataError, match="leaves clips out of every split"):
        write_pack_copy(pack.with_labels(include=np.zeros(len(pack), bool)), tmp_path / "x", info={})


def test_seeds_candidates_and_a_class_without_verified_clips(noisy):
    pack, _ = noisy
    seeds, candidates = seeds_and_candidates(pack)
    assert seeds.sum() == 3 * VERIFIED_TRAIN and candidates.sum() == 3 * (SPLIT_SIZES["train"] - VERIFIED_TRAIN)
    check_seed_classes(pack, seeds, candidates)
    no_high = seeds & (pack.index.label != pack.labels.index("high"))
    with pytest.raises(
        DataError, match=r"no verified clip in the train split for class\(es\) 'high' \(\d+ unverified\).*merge"
    ):
        check_seed_classes(pack, no_high, candidates)
    with pytest.raises(DataError, match="no verified clip in the train split"):
        check_seed_classes(pack, np.zeros(len(pack), bool), candidates)


def test_label_noise_estimate_is_capped_and_flags_a_predictor_at_chance():
    from wavetag.semi.common import NOISE_FLOOR, estimate_label_noise

    good = estimate_label_noise(0.9, 0.9 * 0.7 + 0.1 * 0.3 / 5, 6, num_verified=200)
    assert good.noise == pytest.approx(0.3) and not good.degenerate and good.warning("m") is None
    clean = estimate_label_noise(0.9, 0.95, 6, num_verified=200)  # agrees more than its accuracy: raw 0
    assert clean.raw == 0.0 and clean.noise == NOISE_FLOOR and not clean.degenerate
    hopeless = estimate_label_noise(0.9, 0.0, 2, num_verified=200)  # raw (K-1)/K: labels no better than random
    assert hopeless.raw == 0.5 and hopeless.noise == pytest.approx(0.45)
    at_chance = estimate_label_noise(0.25, 0.25, 4, num_verified=40)
    assert at_chance.degenerate and at_chance.noise == NOISE_FLOOR and at_chance.chance == 0.25
    assert at_chance.margin == pytest.approx(2 * (0.25 * 0.75 / 40) ** 0.5)
    assert "accuracy 0.25 on 40 verified clips against a chance level of 0.25" in at_chance.warning("the round-0 model")
    assert "guesses" in at_chance.warning("m", None) and "label noise 0.3" in at_chance.warning("m", 0.3)
    majority = estimate_label_noise(0.7, 0.7, 4, num_verified=1000, majority_share=0.72)  # always says the common class
    assert majority.degenerate and majority.chance == 0.72
