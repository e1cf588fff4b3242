"""Talk windows (`wavetag.data.talk`): training clips rewritten as windows of running speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_two_tone_pack
from test_train import assert_same_weights, tiny_config, train_killed_then_resumed

from wavetag.data import prepare
from wavetag.data.dataset import make_batch
from wavetag.data.pack import Pack
from wavetag.data.talk import TalkConfig, TalkWindows
from wavetag.errors import ConfigError
from wavetag.train import train

SR = 8000
CLIP_S = 1.0


def word(hz: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A 1-s clip: ``seconds`` of tone at a random place, the rest near-silence (-60 dB)."""
    x = 0.001 * rng.standard_normal(int(SR * CLIP_S))
    n = int(SR * seconds)
    at = int(rng.integers(0, len(x) - n))
    x[at : at + n] += 0.3 * np.sin(2 * np.pi * hz * np.arange(n) / SR)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def kws_pack(tmp_path_factory) -> Path:
    """Keywords "low"/"high", ``_unknown_`` words (other tones) and ``_silence_``, 6 speakers."""
    root = tmp_path_factory.mktemp("talk")
    rng = np.random.default_rng(0)
    for label, hz in {"low": 300, "high": 2500, "_unknown_": None, "_silence_": 0}.items():
        (root / "src" / label).mkdir(parents=True)
        for i in range(18):
            if hz == 0:
                x = (0.01 * rng.standard_normal(SR)).astype(np.float32)
            else:
                x = word(hz or float(rng.choice([600, 1200, 1800])), rng.uniform(0.2, 0.4), rng)
            sf.write(root / "src" / label / f"spk{i % 6}_nohash_{i}.wav", x, SR, subtype="PCM_16")
    prepare(root / "src", root / "pack", sample_rate=SR, clip_seconds=CLIP_S, jobs=1, progress=False)
    return root / "pack"


def batch_of(pack: Pack, seed: int = 0):
    rows = pack.split_indices("train")
    return make_batch(pack, rows, num_samples=SR, crop="start", generator=seed)


def contains(window: np.ndarray, part: np.ndarray) -> bool:
    """Whether ``part`` appears whole, sample for sample, inside ``window``."""
    hits = np.flatnonzero(np.isclose(window, part[0], atol=0))
    return any(np.array_equal(window[h : h + len(part)], part) for h in hits if h + len(part) <= len(window))


def test_off_by_default_changes_nothing(kws_pack):
    pack = Pack.open(kws_pack)
    talk = TalkWindows(TalkConfig(), pack, pack.split_indices("train"))
    batch = batch_of(pack)
    before = batch.wav.clone()
    assert not talk.active
    assert talk(batch, np.random.default_rng(0)).wav.equal(before)


def test_every_non_keyword_row_becomes_a_phrase_window_and_labels_stay(kws_pack):
    pack = Pack.open(kws_pack)
    talk = TalkWindows(TalkConfig(p_unknown=1.0, min_words=3, max_words=3), pack, pack.split_indices("train"))
    batch = batch_of(pack)
    before, labels = batch.wav.clone(), batch.target.clone()
    talk(batch, np.random.default_rng(1))
    names = [pack.labels[i] for i in labels.tolist()]
    changed = (batch.wav != before).flatten(1).any(1).tolist()
    assert batch.target.equal(labels)
    assert all(c == (n == "_unknown_") for c, n in zip(changed, names, strict=True))  # keywords, silence untouched
    assert batch.wav.shape == before.shape and batch.length.eq(SR).all()
    # a window of three words with gaps holds more than one word's worth of tone, or a cut word
    unknown = [r for r, n in enumerate(names) if n == "_unknown_"]
    active = [(batch.wav[r, 0].abs() > 0.05).float().mean().item() for r in unknown]
    single = [(before[r, 0].abs() > 0.05).float().mean().item() for r in unknown]
    assert np.mean(active) > 1.5 * np.mean(single)


def test_keyword_rows_keep_the_whole_keyword_between_neighbours(kws_pack):
    pack = Pack.open(kws_pack)
    talk = TalkWindows(TalkConfig(p_keyword=1.0), pack, pack.split_indices("train"))
    batch = batch_of(pack)
    index, labels = batch.index.tolist(), batch.target.tolist()
    talk(batch, np.random.default_rng(2))
    keywords = [r for r, label in enumerate(labels) if not pack.labels[label].startswith("_")]
    assert keywords
    for r in keywords:
        active = talk.word(index[r])
        assert contains(batch.wav[r, 0].numpy(), active), f"row {r}: the keyword is not whole in its window"


def test_same_generator_same_windows(kws_pack):
    pack = Pack.open(kws_pack)
    talk = TalkWindows(TalkConfig(p_unknown=0.5, p_keyword=0.5), pack, pack.split_indices("train"))
    a = talk(batch_of(pack), np.random.default_rng(7)).wav
    b = talk(batch_of(pack), np.random.default_rng(7)).wav
    c = talk(batch_of(pack), np.random.default_rng(8)).wav
    assert a.equal(b) and not a.equal(c)


def test_words_come_from_the_train_split_only(kws_pack):
    pack = Pack.open(kws_pack)
    train_idx = pack.split_indices("train")
    talk = TalkWindows(TalkConfig(p_unknown=1.0), pack, train_idx)
    assert set(talk.words.tolist()) <= set(train_idx.tolist())
    assert {pack.labels[pack.index.label[i]] for i in talk.words} == {"_unknown_"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"p_unknown": 1.5}, "talk.p_unknown"),
        ({"min_words": 4, "max_words": 2}, "talk.min_words = 4 is above talk.max_words"),
        ({"min_gap_s": 0.5, "max_gap_s": 0.1}, "talk.min_gap_s"),
    ],
)
def test_bad_config_names_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        TalkConfig(**fields).validate()


def test_a_pack_without_non_keywords_is_refused_with_advice(tmp_path):
    pack = Pack.open(write_two_tone_pack(tmp_path, clips_per_class=8))
    with pytest.raises(ConfigError, match="need non-keyword clips.*--unknown-share"):
        TalkWindows(TalkConfig(p_unknown=0.5), pack, pack.split_indices("train"))
    TalkWindows(TalkConfig(), pack, pack.split_indices("train"))  # off: no complaint


def test_training_with_talk_windows_resumes_exactly(kws_pack, tmp_path, monkeypatch):
    config = tiny_config(epochs=2, checkpoint_every_steps=1, talk={"p_unknown": 0.7, "p_keyword": 0.5})
    train(kws_pack, config, tmp_path / "whole", progress=False, verbose=False)
    train_killed_then_resumed(kws_pack, config, tmp_path / "killed", monkeypatch, killed_at_batch=3)
    assert_same_weights(tmp_path / "whole" / "last", tmp_path / "killed" / "last")
    plain = tiny_config(epochs=2)
    train(kws_pack, plain, tmp_path / "plain", progress=False, verbose=False)
    with pytest.raises(AssertionError):  # the windows did change what was learned
        assert_same_weights(tmp_path / "whole" / "last", tmp_path / "plain" / "last")
