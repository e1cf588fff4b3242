"""The honest generalisation test: non-keyword word lists, engine/voice columns in packs,
leave-one-engine-out splits and the per-engine / unseen-word breakdown of evaluate."""

from __future__ import annotations

import numpy as np
import pytest

from wavetag.data import prepare
from wavetag.data.pack import Pack
from wavetag.data.synth import speech_commands as sc
from wavetag.data.synth.wordlist import other_words, word_split
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
