"""Split rules: the Speech Commands hash, stratified random, whole groups."""

import hashlib
import re
from collections import Counter, defaultdict

import pytest

from wavetag.data.splits import (
    check_fractions,
    group_splits,
    hash_splits,
    normalise_split_name,
    speaker_of,
    stratified_splits,
    which_set,
)
from wavetag.errors import ConfigError


def tf_which_set(filename, validation_percentage, testing_percentage):
    """TensorFlow examples/speech_commands/input_data.py, transcribed."""
    base_name = filename.rsplit("/", 1)[-1]
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    max_num = 2**27 - 1
    percentage_hash = (int(hash_name_hashed, 16) % (max_num + 1)) * (100.0 / max_num)
    if percentage_hash < validation_percentage:
        return "validation"
    elif percentage_hash < (testing_percentage + validation_percentage):
        return "testing"
    return "training"


NAMES = [f"{w}/{i:08x}_nohash_{k}.wav" for i in range(0, 4000, 7) for w in ("yes", "no") for k in range(2)]


def test_which_set_matches_tensorflow_rule():
    for name in NAMES:
        assert which_set(name) == tf_which_set(name, 10, 10)
        assert which_set(name, 20, 5) == tf_which_set(name, 20, 5)


def test_which_set_keeps_speakers_together_and_hits_the_shares():
    by_speaker = defaultdict(set)
    for name in NAMES:
        by_speaker[speaker_of(name)].add(which_set(name))
    assert all(len(s) == 1 for s in by_speaker.values())
    shares = Counter(which_set(f"x/{i:08x}_nohash_0.wav") for i in range(5000))
    assert 400 < shares["validation"] < 600 and 400 < shares["testing"] < 600


def test_hash_splits_use_pack_names_and_fractions():
    splits = hash_splits(NAMES, (0.8, 0.1, 0.1))
    expected = {"training": "train", "validation": "validation", "testing": "test"}
    assert splits == [expected[which_set(n)] for n in NAMES]
    assert set(hash_splits(NAMES, (1.0, 0.0, 0.0))) == {"train"}


def test_speaker_of():
    assert speaker_of("yes/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"
    assert speaker_of("clips/dog_bark.wav") == "dog_bark"


def test_stratified_splits_keep_class_shares_and_are_seeded():
    strata = ["a"] * 50 + ["b"] * 20
    splits = stratified_splits(strata, (0.6, 0.2, 0.2), seed=3)
    counts = Counter(zip(strata, splits, strict=False))
    assert counts[("a", "validation")] == 10 and counts[("a", "test")] == 10 and counts[("a", "train")] == 30
    assert counts[("b", "validation")] == 4 and counts[("b", "test")] == 4 and counts[("b", "train")] == 12
    assert stratified_splits(strata, (0.6, 0.2, 0.2), seed=3) == splits
    assert stratified_splits(strata, (0.6, 0.2, 0.2), seed=4) != splits


def test_group_splits_never_share_a_group():
    groups = [f"spk{i % 37}" for i in range(400)]
    splits = group_splits(groups, (0.7, 0.15, 0.15), seed=1)
    per_group = defaultdict(set)
    for g, s in zip(groups, splits, strict=False):
        per_group[g].add(s)
    assert all(len(s) == 1 for s in per_group.values())
    shares = Counter(splits)
    assert shares["validation"] > 20 and shares["test"] > 20 and shares["train"] > 200


@pytest.mark.parametrize("bad", [(0.8, 0.1), (0.9, 0.2, 0.1), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused(bad):
    with pytest.raises(ConfigError, match="sum to 1"):
        check_fractions(bad)


def test_split_name_aliases():
    assert normalise_split_name("Training", where="x") == "train"
    assert normalise_split_name("valid", where="x") == "validation"
    with pytest.raises(ConfigError, match="metadata.csv row 3.*unknown split 'holdout'"):
        normalise_split_name("holdout", where="metadata.csv row 3")
