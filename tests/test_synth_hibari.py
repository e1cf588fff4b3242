"""hibari's neural voice: found on disk only, F0 moved apart from the formants, the engine, synth."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import soundfile as sf

from wavetag.data.synth import engines as eng
from wavetag.data.synth import hibari
from wavetag.data.synth import speech_commands as sc


def _f0_hz(wav: np.ndarray, rate: int) -> float:
    """Median fundamental over a word's loud 40-ms frames, by the harmonic product spectrum (80-400 Hz)."""
    x = wav.astype(np.float64) / 32768
    n, candidates = int(0.04 * rate), np.arange(80, 401)
    frames = [x[i : i + n] for i in range(0, len(x) - n, n // 2)]
    loud = [f for f in frames if np.abs(f).max() > 0.3]
    found = []
    for frame in loud:
        spectrum = np.abs(np.fft.rfft(frame * np.hanning(n), rate))  # 1-Hz bins
        log_hps = sum(np.log(spectrum[candidates * h] + 1e-9) for h in range(1, 5))
        found.append(candidates[np.argmax(log_hps)])
    return float(np.median(found))


def test_the_wheel_voice_is_found_and_the_engine_is_opt_in(monkeypatch, tmp_path):
    assert hibari.installed(), "install hibari-tts (requirements.lock)"
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))  # an empty cache: only the wheel's voice
    assert hibari.find_voices().keys() == {"heart"} and eng.list_voices("hibari") == ["heart"]
    assert "hibari" not in eng.available_engines() and "hibari" in eng.available_engines(opt_in=True)
    assert "hibari" not in sc.resolve_engines(None) and sc.resolve_engines(["hibari"]) == ["hibari"]


def test_voices_are_found_on_disk_and_never_downloaded(monkeypatch, tmp_path):
    """A voice file in hibari's cache joins in; a damaged one, or one not on disk, is an error naming
    it or where to put it; hibari's downloader is never called."""
    hibari_voices = importlib.import_module("hibari.voices")  # the package's own module, not wavetag's

    def no_network(*args, **kwargs):
        raise AssertionError("hibari tried to download a voice")

    monkeypatch.setattr(hibari_voices, "download", no_network)
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))
    assert "emma" not in hibari.find_voices()
    copied = tmp_path / hibari_voices.VOICES["emma"]["file"]  # a voice the user copied into the cache
    copied.write_bytes(b"not a model")
    assert hibari.find_voices()["emma"] == str(copied) and "emma" in eng.list_voices("hibari")
    hibari.load_voice.cache_clear()
    with pytest.raises(hibari.HibariError, match=r"voice 'emma' .*ONNX Runtime cannot run it"):
        hibari.load_voice("emma")  # a damaged file is named, not loaded
    copied.unlink()
    with pytest.raises(hibari.HibariError, match=r"no voice 'emma' on disk .*HIBARI_HOME"):
        hibari.load_voice("emma")
    with pytest.raises(eng.EngineError, match="no voice 'emma'"):
        eng.get_engine("hibari").synthesize(
            eng.Speaker("hibari", "emma", "", 1, 1, 1, 1), [eng.Utterance("no", 1, 1, 1)]
        )


def test_shape_f0_moves_voiced_frames_only():
    f0 = np.array([0.0, 100.0, 150.0, 200.0, 30.0])
    same = hibari.shape_f0(f0, pitch=1.0, pitch_range=1.0)
    np.testing.assert_allclose(same, f0)
    up = hibari.shape_f0(f0, pitch=1.5, pitch_range=1.0)
    np.testing.assert_allclose(up[1:4], f0[1:4] * 1.5)
    assert up[0] == 0 and up[4] == 30  # unvoiced frames (under the vocoder's 40 Hz) stay unvoiced
    flat = hibari.shape_f0(f0, pitch=1.0, pitch_range=0.0)
    np.testing.assert_allclose(flat[1:4], 150.0)  # no melody: every voiced frame at the median
    wide = hibari.shape_f0(f0, pitch=1.0, pitch_range=2.0)
    assert wide[1] < 100 and wide[3] > 200 and wide[2] == pytest.approx(150)
    assert (hibari.shape_f0(f0, pitch=0.1, pitch_range=1.0)[1:4] > hibari.UNVOICED_HZ).all()
    np.testing.assert_array_equal(hibari.shape_f0(np.zeros(3), pitch=2, pitch_range=2), np.zeros(3))


def test_a_word_is_read_alone_and_said_as_a_sentence():
    """hibari's normaliser reads the text "no." as "number": the ending goes after the phonemes."""
    assert hibari.word_phonemes("heart", "no") == "nˈO."
    assert hibari.word_phonemes("heart", "up") == "ˈʌp."  # a lone command gets primary stress
    assert hibari.word_phonemes("heart", "right", ending="?") == "ɹˈIt?"
    assert hibari.word_phonemes("heart", "marvin") == "mˈɑɹvɪn."


def test_engine_speaks_deterministically_and_pitch_moves_f0():
    engine = eng.get_engine("hibari")
    low = eng.Speaker("hibari", "heart", "", 0.8, 1.0, 1.0, 1.0)
    say = [eng.Utterance("no", 0.8, 1.0, 1.0), eng.Utterance("seven", 0.8, 1.0, 1.0)]
    first, again = engine.synthesize(low, say), engine.synthesize(low, say)
    for (wav, rate), (wav2, _) in zip(first, again, strict=True):
        assert rate == hibari.SAMPLE_RATE and wav.dtype == np.int16 and np.abs(wav).max() == 32767
        np.testing.assert_array_equal(wav, wav2)
        clip = sc.render_clip(wav, rate, warp=1.0, rng=np.random.default_rng(0))
        loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
        assert 0.2 < (loud[-1] - loud[0]) / sc.SAMPLE_RATE < 0.9  # a word, not a click
    f0 = [
        _f0_hz(
            *engine.synthesize(eng.Speaker("hibari", "heart", "", p, 1.0, 1.0, 1.0), [eng.Utterance("no", p, 1, 1)])[0]
        )
        for p in (0.8, 1.0, 1.25)
    ]
    assert f0[0] < f0[1] < f0[2] and f0[2] / f0[0] == pytest.approx(1.25 / 0.8, rel=0.12)  # no warp here


def test_planned_hibari_speakers_draw_pitch_range_and_speed_within_bounds():
    plan = sc.plan_speakers(30, words=["yes"], engines=["hibari"], seed=3)
    pitches = [p.speaker.pitch for p in plan]
    assert all(eng.HIBARI_PITCH[0] <= v <= eng.HIBARI_PITCH[1] for v in pitches) and len(set(pitches)) == 30
    assert all(eng.HIBARI_PITCH_RANGE[0] <= p.speaker.pitch_range <= eng.HIBARI_PITCH_RANGE[1] for p in plan)
    assert all(eng.HIBARI_SPEED[0] <= p.speaker.rate <= eng.HIBARI_SPEED[1] for p in plan)
    assert {p.split for p in plan} == {"training", "validation", "testing"}


def test_synth_with_hibari_named_writes_its_speakers(tmp_path):
    out = tmp_path / "sc"
    sc.synth_speech_commands(
        out, speakers=2, words=["yes", "off"], engines=["hibari"], jobs=1, noise_seconds=1.0, progress=False
    )
    wavs = sorted(w for w in out.glob("*/*.wav") if w.parent.name != "_background_noise_")
    assert [w.parent.name for w in wavs] == ["off", "off", "yes", "yes"]
    for wav in wavs:
        clip, rate = sf.read(wav, dtype="float32")
        assert rate == sc.SAMPLE_RATE and clip.shape == (sc.SAMPLE_RATE,) and np.abs(clip).max() > 0.05
    speakers = json.loads((out / "synth.json").read_text())["speakers"]
    assert {s["engine"] for s in speakers} == {"hibari"} and {s["voice"] for s in speakers} == {"heart"}
