"""The honest generalisation test: non-keyword word lists, engine/voice columns in packs,
leave-one-engine-out splits and the per-engine / unseen-word breakdown of evaluate."""

from __future__ import annotations

import numpy as np
import pytest

from wavetag.data import prepare
from wavetag.data.pack import Pack
from wavetag.data.synth import speech_commands as sc
from wavetag.data.synth.engines import edit_distance, fold_ipa
from wavetag.data.synth.espeak import get_espeak
from wavetag.data.synth.wordlist import near_words, other_words, word_split
from wavetag.errors import ConfigError
from wavetag.evaluate.breakdown import breakdown, breakdown_markdown

TINY = dict(
    speakers=12,
    words=["yes", "no", "bed"],
    engines=["espeak", "flite"],
    seed=3,
    noise_seconds=2.0,
    unknown_words=60,
    unknown_per_speaker=3,
    progress=False,
)


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "set"
    return sc.synth_speech_commands(out, jobs=2, **TINY)


def test_other_words_leave_out_keywords_and_their_homophones():
    words = other_words(300, sc.KNOWN_WORDS)
    assert len(words) == len(set(words)) == 300
    assert not set(words) & set(sc.KNOWN_WORDS)
    for homophone in ("know", "write", "right", "too"):  # "no", "right", "two" in other spellings
        assert homophone not in words
    assert {"the", "people", "because"} <= set(words)  # frequent words come first
    assert {word_split(w) for w in words} == {"training", "validation", "testing"}


def test_near_words_are_one_sound_from_a_keyword_and_shared_out():
    targets = ("yes", "off", "up")
    words = near_words(30, targets, sc.KNOWN_WORDS)
    assert len(words) == len(set(words)) == 30
    assert not set(words) & set(sc.KNOWN_WORDS)
    es = get_espeak()

    def readings(word):
        return {fold_ipa(es.phonemes(word, voice=v)) for v in ("en-us", "en")}

    nearest = []
    for word in words:
        distances = {t: min(edit_distance(a, b) for a in readings(word) for b in readings(t)) for t in targets}
        assert min(distances.values()) == 1, (word, distances)  # near, and never a homophone
        nearest.append(min(distances, key=distances.get))
    counts = {t: nearest.count(t) for t in targets}
    assert min(counts.values()) >= 8, counts  # the keywords take turns
    assert {"use", "of"} <= set(words)  # the confusions the stream bench found
    assert near_words(0, targets, sc.KNOWN_WORDS) == ()
    with pytest.raises(ConfigError, match="near_words"):
        near_words(-1, targets, sc.KNOWN_WORDS)


def test_near_words_join_each_speaker_by_split_without_repeats(tmp_path):
    plain = sc.plan_speakers(12, words=["yes", "no", "bed"], engines=["espeak"], seed=3, unknown_words=60)
    plan = sc.plan_speakers(
        12, words=["yes", "no", "bed"], engines=["espeak"], seed=3, unknown_words=60, near=40, near_per_speaker=4
    )
    pool = set(near_words(40, ("yes", "no"), sc.KNOWN_WORDS))  # "bed" is not a command word
    for before, after in zip(plain, plan, strict=True):
        assert after.speaker == before.speaker and after.words[: len(before.words)] == before.words
        extra = after.words[len(before.words) :]
        assert 0 < len(extra) <= 4 and set(extra) <= pool
        assert len(set(after.words)) == len(after.words)
        assert {word_split(w) for w in extra} <= {after.split}
    with pytest.raises(ConfigError, match="near_words=-2"):
        sc.synth_speech_commands(tmp_path / "x", near_words=-2, progress=False)


def test_speakers_say_only_other_words_of_their_own_split(synth_set):
    import json

    manifest = json.loads((synth_set.out_dir / "synth.json").read_text())
    pool = set(other_words(60, sc.KNOWN_WORDS))
    by_split: dict[str, set[str]] = {}
    for speaker in manifest["speakers"]:
        extra = [w for w in speaker["words"] if w not in TINY["words"]]
        assert len(extra) <= 3 and set(extra) <= pool
        assert {word_split(w) for w in extra} <= {speaker["split"]}
        by_split.setdefault(speaker["split"], set()).update(extra)
        assert speaker["voice"] and speaker["engine"] in ("espeak", "flite")
    assert not by_split.get("training", set()) & by_split.get("testing", set())
    assert "other words" in synth_set.table()


def test_pack_knows_engine_voice_and_word(synth_set, tmp_path):
    prepare(synth_set.out_dir, tmp_path / "p", clip_seconds=1.0, words="yes,no", progress=False, unknown_share=1.0)
    pack = Pack.open(tmp_path / "p")
    meta = pack.index.meta
    assert set(meta) == {"engine", "voice", "word"}
    speech = meta["word"] != ""
    assert set(meta["engine"][speech]) == {"espeak", "flite"}
    for i in np.flatnonzero(speech)[:20]:
        assert str(pack.index.path[i]).startswith(str(meta["word"][i]) + "/")
    header = (tmp_path / "p" / "index.csv").read_text().splitlines()[0]
    assert header.endswith("engine,voice,word")


def test_hold_out_engine_puts_exactly_that_engine_in_test(synth_set, tmp_path):
    prepare(
        synth_set.out_dir, tmp_path / "lo", clip_seconds=1.0, words="yes,no", hold_out="engine=flite", progress=False
    )
    pack = Pack.open(tmp_path / "lo")
    engine = pack.index.meta["engine"]
    test, rest = (
        pack.split_indices("test"),
        np.concatenate([pack.split_indices("train"), pack.split_indices("validation")]),
    )
    assert set(engine[test]) - {""} == {"flite"}  # "" = _silence_ clips cut from noise
    assert "flite" not in set(engine[rest])
    assert len(pack.split_indices("validation")) > 0


@pytest.mark.parametrize(
    "hold_out, match",
    [
        ("engine", "expected KEY=VALUE"),
        ("engine=", "expected KEY=VALUE"),
        ("engine=festvox", "no clip has engine = festvox .values here: espeak, flite"),
        ("accent=scottish", "no clip of .* has a 'accent' .keys here: engine, group, voice, word"),
    ],
)
def test_hold_out_errors_name_what_exists(synth_set, tmp_path, hold_out, match):
    with pytest.raises(ConfigError, match=match):
        prepare(
            synth_set.out_dir, tmp_path / "bad", clip_seconds=1.0, words="yes,no", hold_out=hold_out, progress=False
        )
    assert not (tmp_path / "bad").exists()


def test_breakdown_by_engine_and_unseen_word_false_accepts(synth_set, tmp_path):
    prepare(synth_set.out_dir, tmp_path / "p", clip_seconds=1.0, words="yes,no", unknown_share=1.0, progress=False)
    pack = Pack.open(tmp_path / "p")
    idx = pack.split_indices("all")
    targets = pack.index.label[idx]
    unknown = pack.labels.index("_unknown_")
    keyword = pack.labels.index("yes")
    predicted = targets.copy()
    flite = pack.index.meta["engine"][idx] == "flite"
    predicted[flite] = np.where(targets[flite] == keyword, unknown, keyword)  # every flite clip wrong
    out = breakdown(pack, idx, predicted, targets)
    rows = {r["value"]: r for r in out["by_engine"]}
    assert rows["flite"]["accuracy"] == 0.0 and rows["espeak"]["accuracy"] == 1.0
    nk = out["non_keywords"]
    is_unknown = targets == unknown
    assert nk["clips"] == int(is_unknown.sum())
    assert nk["false_accept_rate"] == pytest.approx((is_unknown & flite).sum() / is_unknown.sum())
    assert nk["unseen_words"]["clips"] + nk["seen_words"]["clips"] == nk["clips"]
    assert nk["unseen_words"]["words"] > 0  # test speakers say test-only words
    text = "\n".join(breakdown_markdown({"breakdown": out}))
    assert "## Accuracy by engine" in text and "| flite |" in text and "words no training clip says" in text


def test_balance_by_engine_draws_each_engine_equally_and_keeps_silence(synth_set, tmp_path):
    from wavetag.data.dataset import epoch_order
    from wavetag.train import TrainConfig, train

    prepare(synth_set.out_dir, tmp_path / "p", clip_seconds=1.0, words="yes,no", progress=False, unknown_share=1.0)
    pack = Pack.open(tmp_path / "p")
    train_idx = pack.split_indices("train")
    engine = pack.index.meta["engine"]
    counts = {e: int((engine[train_idx] == e).sum()) for e in ("espeak", "flite")}
    assert counts["espeak"] > 1.5 * counts["flite"]  # skewed to begin with
    drawn = epoch_order(pack, train_idx, seed=0, epoch=0, balance_by="engine")
    assert len(drawn) == len(train_idx) and set(drawn) <= set(train_idx)
    got = {e: int((engine[drawn] == e).sum()) for e in counts}
    assert abs(got["espeak"] - got["flite"]) <= 1
    silence = train_idx[engine[train_idx] == ""]
    assert len(silence) and sorted(drawn[engine[drawn] == ""]) == sorted(silence)  # each once
    assert np.array_equal(drawn, epoch_order(pack, train_idx, seed=0, epoch=0, balance_by="engine"))
    assert not np.array_equal(drawn, epoch_order(pack, train_idx, seed=0, epoch=1, balance_by="engine"))
    with pytest.raises(ConfigError, match="'accent': .* its columns: engine, voice, word"):
        epoch_order(pack, train_idx, seed=0, epoch=0, balance_by="accent")

    base = {"model": "ds_cnn_s", "epochs": 1, "batch_size": 16, "threads": 1, "tensorboard": False}
    base["frontend"] = {"name": "logmel", "n_mels": 20}
    with pytest.raises(ConfigError, match="balance_by = 'accent'"):  # refused before the run directory
        train(pack, TrainConfig(**base, balance_by="accent"), tmp_path / "bad", progress=False, verbose=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="both set"):
        TrainConfig(**base, balance_by="engine", balanced_sampler=True).validate()
    result = train(pack, TrainConfig(**base, balance_by="engine"), tmp_path / "run", progress=False, verbose=False)
    assert result.epochs_done == 1 and (tmp_path / "run" / "best" / "config.json").is_file()

    from typer.testing import CliRunner

    import wavetag.cli.train  # noqa: F401  (registers the command)
    from wavetag.cli.app import app

    bad = CliRunner().invoke(app, ["train", str(tmp_path / "p"), "--balance-by", "accent", "-o", str(tmp_path / "c")])
    assert isinstance(bad.exception, ConfigError) and "its columns: engine, voice, word" in str(bad.exception)
    assert not (tmp_path / "c").exists()
