"""The built-in keyword set: espeak binding, engines, layout, determinism, splits, noises, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from wavetag.data.synth import engines as eng
from wavetag.data.synth import noise
from wavetag.data.synth import speech_commands as sc
from wavetag.data.synth.espeak import Espeak, EspeakError, get_espeak
from wavetag.errors import ConfigError, DataError

# 6 speakers: with any engine mix espeak gets >= 2, so a worker speaks for several espeak speakers
# and byte-identity across jobs really tests that speakers do not depend on each other.
TINY = dict(speakers=6, words=["yes", "no"], seed=0, noise_seconds=1.0, progress=False)
HAS_FLITE = eng.get_engine("flite").available()
HAS_FESTIVAL = eng.get_engine("festival").available()


def _rms_dbfs(x: np.ndarray) -> float:
    x = x.astype(np.float64) / 32768.0
    return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12)


# --- espeak binding and engines ------------------------------------------------------------
def test_espeak_binding_speaks_a_word():
    es = get_espeak()
    wav = es.synth("yes", voice="en-us", rate_wpm=175)
    assert es.sample_rate == 22050
    assert wav.dtype == np.int16
    assert 0.2 < len(wav) / es.sample_rate < 1.0  # "yes" at 175 wpm, with espeak's own pauses
    assert _rms_dbfs(wav) > -40 and np.abs(wav).max() > 3000


def test_espeak_lists_voices_variants_and_english_phonemes():
    es = get_espeak()
    languages = {v.language for v in es.voices()}
    assert {"en-us", "en-gb-scotland", "de"} <= languages
    assert {"f3", "m2", "klatt"} <= set(es.variants())
    assert es.phonemes("yes", voice="en-us") == "jˈɛs"


def test_espeak_is_repeatable_from_a_fresh_library_and_a_seed():
    # libespeak-ng seeds its breath/whisper noise from the clock at initialisation: two fresh
    # copies made a second apart agree only because the engine seeds them.
    first = Espeak(private_copy=True)
    time.sleep(1.05)
    second = Espeak(private_copy=True)
    for es in (first, second):
        es.seed_random(7)
    assert np.array_equal(first.synth("yes", voice="en-us+whisper"), second.synth("yes", voice="en-us+whisper"))


def test_espeak_unknown_voice_raises():
    with pytest.raises(EspeakError, match="voice 'xx-nowhere' not found"):
        get_espeak().synth("yes", voice="xx-nowhere")


def test_espeak_parameter_out_of_range_raises():
    with pytest.raises(ConfigError, match=r"rate_wpm=20 is out of range \(expected 80..450\)"):
        get_espeak().synth("yes", rate_wpm=20)


def test_foreign_accent_filter_keeps_close_readings_only():
    espeak = eng.get_engine("espeak")
    assert "en-gb-scotland" in espeak.accents()
    words = ["yes", "no", "house", "eight"]
    assert espeak.speakable("en-us", words) == words
    german = espeak.speakable("de", words)  # reads "yes" as [jeːs], "house" as [hoːuse] ...
    assert "yes" in german and "house" not in german
    assert eng.fold_ipa("ɹˈaɪt") == eng.fold_ipa("rˈaɪt") == "rIt"


def _one_word(engine: str, voice: str, variant: str = "", **params):
    spk = eng.Speaker(
        engine, voice, variant, params.get("pitch", 0), params.get("pitch_range", 0), params.get("rate", 1.0), 1.0
    )
    [(wav, rate)] = eng.get_engine(engine).synthesize(
        spk, [eng.Utterance("seven", spk.pitch, spk.pitch_range, spk.rate)]
    )
    return wav, rate


def test_espeak_engine_speaks_every_kind_of_voice():
    for voice, variant in [("en-gb-x-rp", ""), ("en-us", "f3"), ("de", "klatt"), ("en-029", "whisper")]:
        wav, rate = _one_word("espeak", voice, variant, pitch=50, pitch_range=50, rate=160)
        assert rate == 22050 and 0.2 < len(wav) / rate < 1.5 and _rms_dbfs(wav) > -45, (voice, variant)


@pytest.mark.skipif(not HAS_FLITE, reason="Debian 'flite' is not installed (apt-get install flite)")
def test_flite_voices_speak():
    for voice in eng.list_voices("flite"):
        wav, rate = _one_word(
            "flite", voice, pitch=120 if eng.get_engine("flite").has_pitch(voice) else 0, pitch_range=15, rate=1.1
        )
        assert rate == 16000 and 0.2 < len(wav) / rate < 1.5 and _rms_dbfs(wav) > -45, voice


@pytest.mark.skipif(not HAS_FESTIVAL, reason="Debian 'festival' + 'festvox-kallpc16k' not installed")
def test_festival_voice_speaks_and_follows_pitch():
    low, _ = _one_word("festival", "kal_diphone", pitch=85, pitch_range=10, rate=1.0)
    high, rate = _one_word("festival", "kal_diphone", pitch=150, pitch_range=10, rate=1.0)
    assert rate == 16000 and _rms_dbfs(high) > -45

    def f0(x):  # autocorrelation peak between 60 and 300 Hz
        x = x.astype(float) - x.mean()
        ac = np.correlate(x, x, "full")[len(x) - 1 :]
        lo, hi = rate // 300, rate // 60
        return rate / (lo + np.argmax(ac[lo:hi]))

    assert f0(high) > 1.3 * f0(low)


# --- rendering one clip -------------------------------------------------------------------------
def test_render_clip_places_a_word_in_one_second():
    rate = 22050
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 200 * np.arange(rate // 2) / rate)).astype(np.int16)
    padded = np.concatenate([np.zeros(4000, np.int16), tone, np.zeros(4000, np.int16)])
    clip = sc.render_clip(padded, rate, warp=1.0, rng=np.random.default_rng(0))
    assert clip.shape == (16000,) and clip.dtype == np.int16
    peak_dbfs = 20 * np.log10(np.abs(clip).max() / 32767)
    assert sc.PEAK_DBFS[0] - 0.5 <= peak_dbfs <= sc.PEAK_DBFS[1] + 0.5
    loud = np.flatnonzero(np.abs(clip) > 0.1 * np.abs(clip).max())
    assert 0.45 < (loud[-1] - loud[0]) / 16000 < 0.6  # silence trimmed, 0.5 s tone kept whole


def _word_with_a_weak_release(rate: int, floor_db: float, rng) -> np.ndarray:
    """0.2 s pause, a 0.2 s vowel (peak 0.5), 60 ms closure, a 30 ms burst 55 dB under the vowel
    (the t of "right"), 0.2 s pause; ``floor_db`` is the RMS of the noise under all of it (dBFS)."""
    t = np.arange(int(0.2 * rate)) / rate
    vowel = 0.5 * np.sin(2 * np.pi * 150 * t)
    burst = 0.5 * 10 ** (-55 / 20) * rng.standard_normal(int(0.03 * rate))
    gap, pause = np.zeros(int(0.06 * rate)), np.zeros(int(0.2 * rate))
    word = np.concatenate([pause, vowel, gap, burst, pause])
    return (word + 10 ** (floor_db / 20) * rng.standard_normal(word.size)).astype(np.float32)


@pytest.mark.parametrize(
    ("floor_db", "kept_s"),
    [(-90, 0.29), (-75, 0.29), (-62, 0.2)],  # clean (Piper, Kokoro); between; a noisy recording
)
def test_trimming_keeps_a_weak_final_release_unless_noise_hides_it(floor_db, kept_s):
    rate = 22050
    word = _word_with_a_weak_release(rate, floor_db, np.random.default_rng(0))
    depth = sc.trim_threshold_db(word, sample_rate=rate)
    assert sc.TRIM_BELOW_PEAK_DB[0] <= depth <= sc.TRIM_BELOW_PEAK_DB[1]
    kept = len(sc.trim_silence(word, sample_rate=rate)) / rate - 2 * sc.TRIM_MARGIN_S
    assert kept == pytest.approx(kept_s, abs=0.01)  # vowel to burst, or the vowel alone


def test_trimming_depth_follows_the_floor_between_its_bounds():
    rate, rng = 22050, np.random.default_rng(1)
    depths = [sc.trim_threshold_db(_word_with_a_weak_release(rate, f, rng), sample_rate=rate) for f in (-90, -75, -62)]
    assert depths[0] == sc.TRIM_BELOW_PEAK_DB[1] and depths[2] == sc.TRIM_BELOW_PEAK_DB[0]
    assert sc.TRIM_BELOW_PEAK_DB[0] < depths[1] < sc.TRIM_BELOW_PEAK_DB[1]
    filled = (0.5 * np.sin(2 * np.pi * 150 * np.arange(rate) / rate)).astype(np.float32)  # no pause: no floor
    assert sc.trim_threshold_db(filled, sample_rate=rate) == sc.TRIM_BELOW_PEAK_DB[0]
    assert sc.trim_threshold_db(np.zeros(100, np.float32), sample_rate=rate) == sc.TRIM_BELOW_PEAK_DB[0]


def test_render_clip_warp_scales_pitch_and_long_words_are_sped_up():
    rate = 22050
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 200 * np.arange(3 * rate) / rate)).astype(np.int16)
    clip = sc.render_clip(tone[: rate // 2], rate, warp=1.1, rng=np.random.default_rng(1))
    spectrum = np.abs(np.fft.rfft(clip.astype(float)))
    assert np.argmax(spectrum) == pytest.approx(220, abs=2)  # 1 Hz bins over 1 s
    long_clip = sc.render_clip(tone, rate, warp=1.0, rng=np.random.default_rng(2))
    loud = np.flatnonzero(np.abs(long_clip) > 0.1 * np.abs(long_clip).max())
    assert long_clip.shape == (16000,) and loud[-1] - loud[0] <= sc.MAX_WORD_SAMPLES


# --- splits --------------------------------------------------------------------------------------
def _percentage(name: str) -> float:  # the TF rule by hand
    return (int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2**27) * (100.0 / (2**27 - 1))


def test_which_set_follows_the_speech_commands_rule():
    assert _percentage("3") == pytest.approx(5.396, abs=1e-3)
    assert _percentage("b") == pytest.approx(15.701, abs=1e-3)
    assert _percentage("a") == pytest.approx(93.282, abs=1e-3)
    assert sc.which_set("yes/3_nohash_4.wav") == "validation"
    assert sc.which_set("/data/no/b_nohash_0.wav") == "testing"
    assert sc.which_set("a_nohash_1.wav") == "training"
    assert sc.which_set("b_nohash_0.wav", validation_percentage=20.0) == "validation"
    assert sc.which_set("3_nohash_0.wav", 0.0, 0.0) == "training"


def test_every_engine_has_speakers_in_every_split():
    plan = sc.plan_speakers(60, words=["yes", "no", "up"], seed=5)
    engines = eng.available_engines()
    assert {p.speaker.engine for p in plan} == set(engines)
    for engine in engines:
        splits = {p.split for p in plan if p.speaker.engine == engine}
        assert splits == set(sc.SPLITS), engine
    for p in plan:
        assert p.split == sc.which_set(f"{p.speaker.hash}_nohash_0.wav")
        assert p.speaker.hash == hashlib.sha1(p.speaker.describe().encode()).hexdigest()[:8]
    assert len({p.speaker.hash for p in plan}) == len(plan)
    espeak_voices = {p.speaker.voice for p in plan if p.speaker.engine == "espeak"}
    assert len(espeak_voices) >= 15  # all English accents plus foreign-accent voices


def test_voices_patterns_restrict_the_speakers():
    plan = sc.plan_speakers(12, words=["yes"], engines=["espeak"], voices=["en-gb*"], seed=1)
    assert {p.speaker.voice for p in plan} <= {v for v in eng.list_voices("espeak") if v.startswith("en-gb")}
    with pytest.raises(ConfigError, match="matches no voice"):
        sc.plan_speakers(3, words=["yes"], engines=["espeak"], voices=["zz*"])


def test_speakers_per_engine_are_dealt_exactly():
    counts = {"espeak": 7, "flite": 4} if HAS_FLITE else {"espeak": 7}
    plan = sc.plan_speakers(counts, words=["yes", "no"], seed=2)
    dealt = {e: sum(p.speaker.engine == e for p in plan) for e in counts}
    assert dealt == counts
    assert sc.parse_speakers("espeak=7, flite=4") == {"espeak": 7, "flite": 4}
    assert sc.parse_speakers("12") == 12 and sc.parse_speakers(12) == 12
    # a total keeps its old meaning (and its speakers): the same plan as before per-engine counts
    total = sc.plan_speakers(11, words=["yes"], engines=["espeak"], seed=2)
    assert [p.speaker.hash for p in total] == [
        p.speaker.hash for p in sc.plan_speakers({"espeak": 11}, words=["yes"], seed=2)
    ]


@pytest.mark.parametrize(
    "speakers, message",
    [
        ("espeak=x", "'espeak=x' is neither a number nor ENGINE=COUNT"),
        ("espeak=0", "espeak=0 must be a whole number >= 1"),
        ("espek=3", "unknown synthesis engine 'espek'; did you mean 'espeak'"),
        ("espeak=2,espeak=3", "names engine 'espeak' twice"),
        ("0", "speakers=0 must be >= 1"),
    ],
)
def test_bad_speaker_counts_are_refused(speakers, message):
    with pytest.raises(ConfigError, match=message):
        sc.parse_speakers(speakers)


def test_speakers_per_engine_and_other_engines_clash(tmp_path):
    with pytest.raises(ConfigError, match="give the engines once"):
        sc.plan_speakers({"espeak": 3}, words=["yes"], engines=["espeak", "flite"])
    with pytest.raises(ConfigError, match="asks for 3 espeak speakers, but voices=\\['zz\\*'\\] matches none"):
        sc.plan_speakers({"espeak": 3}, words=["yes"], voices=["zz*"])
    assert not any(tmp_path.iterdir())


# --- the set -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    one = tmp_path_factory.mktemp("synth") / "jobs1"
    two = tmp_path_factory.mktemp("synth") / "jobs2"
    get_espeak().synth("go", voice="en-us")  # this process's libespeak-ng is no longer fresh
    return (sc.synth_speech_commands(one, jobs=1, **TINY), sc.synth_speech_commands(two, jobs=2, **TINY))


def test_tiny_set_has_the_speech_commands_layout(tiny_sets):
    summary = tiny_sets[0]
    out = summary.out_dir
    wavs = sorted(out.glob("*/*_nohash_*.wav"))
    assert {p.parent.name for p in wavs} == {"yes", "no"}
    assert len(wavs) == summary.n_clips == sum(sum(c.values()) for c in summary.counts.values())
    for path in wavs:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, "PCM_16")
    noises = sorted(p.stem for p in (out / "_background_noise_").glob("*.wav"))
    assert noises == sorted(noise.BACKGROUND_NOISES)
    listed = {}
    for split in ("validation", "testing"):
        for line in (out / f"{split}_list.txt").read_text().splitlines():
            assert (out / line).is_file() and line.count("/") == 1
            assert sc.which_set(line) == split
            listed[line] = split
    for path in wavs:
        rel = f"{path.parent.name}/{path.name}"
        assert listed.get(rel, "training") == sc.which_set(rel)
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["complete"] and manifest["args"]["words"] == ["yes", "no"]
    assert set(manifest["versions"]) == set(sc.VERSIONED_PACKAGES) and manifest["versions"]["onnxruntime"]


def test_same_seed_gives_byte_identical_files_whatever_jobs(tiny_sets):
    one, two = (s.out_dir for s in tiny_sets)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) > 10 and Path("synth.json") in files  # the manifest holds no timings
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_different_speakers_sound_different(tiny_sets):
    clips = [sf.read(p, dtype="int16")[0] for p in sorted(tiny_sets[0].out_dir.glob("yes/*.wav"))]
    assert len(clips) >= 2
    for i in range(len(clips)):
        for j in range(i + 1, len(clips)):
            a, b = clips[i].astype(float), clips[j].astype(float)
            assert abs(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b)) < 0.9


def test_repeats_are_numbered_and_differ(tmp_path):
    summary = sc.synth_speech_commands(
        tmp_path / "r", engines=["espeak"], voices=["en-us"], repeats=2, **{**TINY, "speakers": 1, "words": ["stop"]}
    )
    first, second = sorted((summary.out_dir / "stop").glob("*.wav"))
    assert (first.name[-13:], second.name[-13:]) == ("_nohash_0.wav", "_nohash_1.wav")
    assert first.read_bytes() != second.read_bytes() and summary.n_clips == 2


def test_rerun_reuses_and_other_arguments_are_refused(tiny_sets, tmp_path):
    out = tmp_path / "set"
    shutil.copytree(tiny_sets[0].out_dir, out)
    again = sc.synth_speech_commands(out, jobs=1, **TINY)
    assert again.reused and again.n_clips == tiny_sets[0].n_clips
    with pytest.raises(DataError, match="other arguments .*differs in seed"):
        sc.synth_speech_commands(out, jobs=1, **{**TINY, "seed": 1})
    # a set rendered by an earlier wavetag (other trimming) is rebuilt, not reused
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["render"] == sc.RENDER_VERSION
    del manifest["render"]
    (out / "synth.json").write_text(json.dumps(manifest))
    rebuilt = sc.synth_speech_commands(out, jobs=1, **TINY)
    assert not rebuilt.reused and json.loads((out / "synth.json").read_text())["render"] == sc.RENDER_VERSION
    for path in sorted(tiny_sets[0].out_dir.rglob("*.wav")):
        assert (out / path.relative_to(tiny_sets[0].out_dir)).read_bytes() == path.read_bytes()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a synth folder")
    with pytest.raises(DataError, match="not empty and has no synth.json"):
        sc.synth_speech_commands(tmp_path / "mine", jobs=1, **TINY)


def test_overwrite_replaces_a_set_with_other_arguments(tiny_sets, tmp_path):
    out = tmp_path / "set"
    shutil.copytree(tiny_sets[0].out_dir, out)
    summary = sc.synth_speech_commands(out, jobs=1, overwrite=True, **{**TINY, "words": ["go"]})
    assert not summary.reused and not (out / "yes").exists()
    assert {p.parent.name for p in out.glob("*/*_nohash_*.wav")} == {"go"}


def test_unknown_word_and_engine_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown word 'yess'; did you mean 'yes'"):
        sc.synth_speech_commands(tmp_path, **{**TINY, "words": ["yess"]})
    with pytest.raises(ConfigError, match="unknown synthesis engine 'espek'; did you mean 'espeak'"):
        sc.synth_speech_commands(tmp_path, engines=["espek"], **TINY)
    with pytest.raises(ConfigError, match="speakers=0 must be >= 1"):
        sc.plan_speakers(0)


def test_an_engine_that_is_not_installed_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(eng.FliteEngine, "available", lambda self: False)
    hint = "'flite' is not installed on this machine; install it with 'apt-get install flite'"
    with pytest.raises(ConfigError, match=hint):
        sc.synth_speech_commands(tmp_path, engines=["espeak", "flite"], **TINY)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers see the patch only when forked")
def test_espeak_failing_in_a_worker_is_reported(monkeypatch, tmp_path):
    one = {**TINY, "speakers": 1, "words": ["yes"]}

    def fail(self, text, **kwargs):
        raise EspeakError(f"espeak_Synth({text!r}) failed with error code -1")

    monkeypatch.setattr(Espeak, "synth", fail)
    with pytest.raises(EspeakError, match=r"espeak_Synth\('yes'\) failed with error code -1"):
        sc.synth_speech_commands(tmp_path / "a", engines=["espeak"], **one)
    monkeypatch.setattr(Espeak, "synth", lambda self, text, **kwargs: np.zeros(0, np.int16))
    with pytest.raises(eng.EngineError, match="produced no audio for 'yes'"):
        sc.synth_speech_commands(tmp_path / "b", engines=["espeak"], **one)


# --- noises --------------------------------------------------------------------------------------
@pytest.mark.parametrize("colour, db_per_octave", [("white", 0.0), ("pink", -3.01), ("brown", -6.02), ("blue", 3.01)])
def test_noise_colours_have_their_spectral_slope(colour, db_per_octave):
    x = noise.noise_of_colour(colour, 16000 * 8, rng=np.random.default_rng(0))
    assert np.sqrt(np.mean(x.astype(float) ** 2)) == pytest.approx(1.0, rel=1e-3)
    freqs, power = signal.welch(x, fs=16000, nperseg=4096)
    band = (freqs >= 100) & (freqs <= 6000)
    slope = np.polyfit(np.log2(freqs[band]), 10 * np.log10(power[band]), 1)[0]
    assert slope == pytest.approx(db_per_octave, abs=0.3)


def test_background_noises_are_written_at_their_level(tmp_path):
    paths = noise.write_background_noises(tmp_path, seconds=2.0, seed=3)
    assert [p.stem for p in paths] == list(noise.BACKGROUND_NOISES)
    for path in paths:
        wav, rate = sf.read(path, dtype="int16")
        assert rate == 16000 and wav.shape == (32000,)
        assert -24.0 < _rms_dbfs(wav) < -19.5 and np.abs(wav).max() < 32767
    with pytest.raises(ConfigError, match="unknown noise colour 'purple'"):
        noise.noise_of_colour("purple", 10, rng=np.random.default_rng(0))


# --- CLI -------------------------------------------------------------------------------------
def test_cli_builds_a_set(tmp_path):
    from typer.testing import CliRunner

    import wavetag.cli.synth  # noqa: F401  (registers the synth group)
    from wavetag.cli.app import app

    out = tmp_path / "sc"
    args = [
        "synth",
        "speech-commands",
        str(out),
        "--speakers",
        "2",
        "--words",
        "yes,no",
        "--engines",
        "espeak",
        "--noise-seconds",
        "1",
        "--near-words",
        "40",
        "--near-per-speaker",
        "2",
        "--quiet",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "clips from 2 speakers" in result.output and (out / "validation_list.txt").is_file()
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["args"]["near_words"] == 40 and manifest["args"]["near_per_speaker"] == 2
    for speaker in manifest["speakers"]:  # two hard negatives each, on disk like any word
        near = [w for w in speaker["words"] if w not in ("yes", "no")]
        assert len(near) == 2 and all(any((out / w).glob(f"{speaker['hash']}_nohash_0.wav")) for w in near)
    bad = CliRunner().invoke(app, ["synth", "speech-commands", str(tmp_path / "x"), "--words", "yess"])
    assert isinstance(bad.exception, ConfigError)


def test_cli_takes_speakers_per_engine(tmp_path):
    from typer.testing import CliRunner

    import wavetag.cli.synth  # noqa: F401  (registers the synth group)
    from wavetag.cli.app import app

    out = tmp_path / "sc"
    args = ["synth", "speech-commands", str(out), "--speakers", "espeak=3", "--words", "yes", "--noise-seconds", "1"]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["args"]["speakers"] == {"espeak": 3} and manifest["args"]["engines"] == ["espeak"]
    assert len(manifest["speakers"]) == 3 and "clips from 3 speakers (espeak 3)" in result.output
    again = CliRunner().invoke(app, [*args, "--quiet"])  # the same request finds the set made
    assert again.exit_code == 0 and "clips from 3 speakers" in again.output
    bad = CliRunner().invoke(app, ["synth", "speech-commands", str(tmp_path / "x"), "--speakers", "espeak=two"])
    assert isinstance(bad.exception, ConfigError) and not (tmp_path / "x").exists()
