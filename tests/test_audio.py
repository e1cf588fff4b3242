"""wavetag.audio: decoding, resampling, levels, pad/chop, silence trimming, windows, bad input.

Tolerances: PCM round trips within one LSB (libsndfile writes with scale 2^(n-1) - 1 and reads
with 2^(n-1), so a sample can move by half an LSB of scale plus half an LSB of rounding); float
files exactly; lossy codecs (Vorbis, MP3) by SNR > 20 dB against the original; resampled windows
within 1e-5 of the same slice of the resampled file (the read starts on the target-rate grid and
carries 50 ms of context, so only float round-off differs).
"""

from __future__ import annotations

import re
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from wavetag import audio
from wavetag.errors import AudioError, ConfigError

WAV_SUBTYPES = {  # subtype: allowed |diff| (one LSB; float files are exact)
    "PCM_U8": 2.0**-7,
    "PCM_16": 2.0**-15,
    "PCM_24": 2.0**-23,
    "PCM_32": 2.0**-31,
    "FLOAT": 0.0,
    "DOUBLE": 0.0,
}
VAD_TEST_RATES = (8000, 16000, 22050, 44100, 48000)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * np.log10(np.sum(reference**2) / np.sum((estimate - reference) ** 2))


def peak_hz(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sample_rate)[spectrum.argmax()])


def vowel(sample_rate: int, seconds: float, f0_hz: float = 120.0) -> np.ndarray:
    """A speech-like vowel: a 120 Hz pulse train through three formant resonators ("a")."""
    n = int(seconds * sample_rate)
    y = np.zeros(n)
    y[(np.arange(0, seconds, 1 / f0_hz) * sample_rate).astype(int)] = 1.0
    for f_hz, bw_hz in ((700, 80), (1220, 90), (2600, 120)):
        r, theta = np.exp(-np.pi * bw_hz / sample_rate), 2 * np.pi * f_hz / sample_rate
        y = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def wav_with_format_tag(path: Path, tag: int, extra: bytes = b"") -> Path:
    """A RIFF/WAVE file whose fmt chunk names codec ``tag`` (16 kHz mono, 4,000 zero data bytes);
    ``extra`` is the codec-specific tail of the fmt chunk."""
    fmt = struct.pack("<HHIIHHH", tag, 1, 16000, 32000, 2, 16, len(extra)) + extra
    data = bytes(4000)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def raises_naming(path: Path, found: str):
    """`pytest.raises(AudioError)` whose message names ``path``, then ``found``."""
    return pytest.raises(AudioError, match=re.escape(str(path)) + ".*" + found)


# --- decoding round trips -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", list(WAV_SUBTYPES))
def test_wav_round_trip_within_one_lsb(write_audio, make_sine, fmt, subtype):
    x = make_sine(16000, 1000, seconds=0.25)
    path = write_audio(f"{subtype}.wav", x, 16000, format=fmt, subtype=subtype)
    y, rate = audio.load(path)
    assert rate == 16000 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, rtol=0, atol=WAV_SUBTYPES[subtype])
    i = audio.info(path)
    assert (i.format, i.subtype) == (fmt, subtype)


def test_wavex_header_is_wave_format_extensible(write_audio, make_sine):
    path = write_audio("x.wav", make_sine(16000, seconds=0.1), 16000, format="WAVEX")
    head = path.read_bytes()[:64]
    fmt = head.find(b"fmt ")
    assert int.from_bytes(head[fmt + 8 : fmt + 10], "little") == 0xFFFE


def test_pcm16_exact_values(write_audio):
    codes = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    y, _ = audio.load(write_audio("codes.wav", codes, 8000))
    np.testing.assert_array_equal(y, codes / 32768.0)


def test_pcm_u8_exact_values(write_audio):
    codes = np.array([0, 1, -1, 127, -128], dtype=np.int16) * 256  # the 8-bit codes, MSB-aligned
    y, _ = audio.load(write_audio("codes.wav", codes, 8000, subtype="PCM_U8"))
    np.testing.assert_array_equal(y, np.array([0, 1, -1, 127, -128]) / 128.0)


@pytest.mark.parametrize("subtype,bits", [("PCM_16", 16), ("PCM_24", 24)])
def test_flac_is_lossless(write_audio, rng, subtype, bits):
    codes = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), 5000)  # integers, so no float rounding
    msb = (codes << (32 - bits)).astype(np.int32)  # libsndfile takes int32 MSB-aligned
    flac, _ = audio.load(write_audio("a.flac", msb, 22050, subtype=subtype))
    np.testing.assert_array_equal(flac, codes / 2.0 ** (bits - 1))


@pytest.mark.parametrize("ext,sample_rate", [("ogg", 16000), ("ogg", 44100), ("mp3", 16000), ("mp3", 44100)])
def test_lossy_codecs_decode_close_to_the_original(write_audio, make_sine, ext, sample_rate):
    x = make_sine(sample_rate, 1000, seconds=1.0)
    y, rate = audio.load(write_audio(f"a.{ext}", x, sample_rate))
    assert rate == sample_rate and y.shape == x.shape
    assert snr_db(x, y) > 20  # measured 28-40 dB; a misaligned or wrong-rate decode is < 0 dB


# --- resampling and channels ----------------------------------------------------------------


@pytest.mark.parametrize("file_rate,target", [(44100, 16000), (48000, 8000), (8000, 48000), (22050, 16000)])
def test_resampling_keeps_a_1khz_tone_at_1khz(write_audio, make_sine, file_rate, target):
    path = write_audio("tone.wav", make_sine(file_rate, 1000, seconds=1.0), file_rate, subtype="FLOAT")
    y, rate = audio.load(path, sample_rate=target)
    assert rate == target
    assert len(y) == target  # 1 s at the new rate
    assert peak_hz(y, target) == pytest.approx(1000, abs=1.0)  # 1 Hz bins
    assert audio.rms_dbfs(y) == pytest.approx(audio.rms_dbfs(make_sine(file_rate, 1000)), abs=0.05)


def test_resample_length_scales_with_the_rate_ratio(rng):
    x = rng.standard_normal(12345).astype(np.float32)
    for target in (8000, 16000, 22050, 96000):
        assert audio.resample(x, 44100, target).shape == (int(12345 * target / 44100 + 0.5),)  # soxr rounds half up
    stereo = np.stack([x, -x])
    y = audio.resample(stereo, 44100, 16000)
    assert y.shape == (2, int(12345 * 16000 / 44100 + 0.5))
    np.testing.assert_allclose(y[1], -y[0], atol=1e-6)


def test_mono_mixdown_and_channels_first(write_audio, make_sine):
    left, right = make_sine(16000, 440, seconds=0.5), make_sine(16000, 1000, seconds=0.5, amplitude=0.25)
    path = write_audio("stereo.wav", np.stack([left, right]), 16000, subtype="FLOAT")
    mono, _ = audio.load(path)
    both, _ = audio.load(path, mono=False)
    assert mono.shape == (8000,) and both.shape == (2, 8000)
    np.testing.assert_array_equal(both, np.stack([left, right]))
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)


def test_six_channel_96khz_24bit_file(write_audio, make_sine):
    freqs = [200, 400, 800, 1600, 3200, 6400]
    x = np.stack([make_sine(96000, f, seconds=0.5, amplitude=0.1) for f in freqs])
    path = write_audio("surround.wav", x, 96000, subtype="PCM_24")
    i = audio.info(path)
    assert (i.channels, i.sample_rate, i.subtype, i.frames) == (6, 96000, "PCM_24", 48000)
    channels, rate = audio.load(path, sample_rate=16000, mono=False)
    assert rate == 16000 and channels.shape == (6, 8000)
    assert [peak_hz(c, 16000) for c in channels] == pytest.approx(freqs, abs=2.0)
    mono, _ = audio.load(path, sample_rate=16000)
    np.testing.assert_allclose(mono, channels.mean(axis=0), atol=1e-5)


def test_info_reads_the_header_without_decoding(write_audio, make_sine, monkeypatch):
    path = write_audio("a.flac", np.stack([make_sine(22050, seconds=1.5)] * 2), 22050, subtype="PCM_24")

    def no_decoding(*args, **kwargs):
        raise AssertionError("info() decoded samples")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(sf, "read", no_decoding)
    i = audio.info(path)
    assert (i.sample_rate, i.channels, i.frames, i.format, i.subtype) == (22050, 2, 33075, "FLAC", "PCM_24")
    assert i.duration_s == pytest.approx(1.5)
    assert i.path == str(path)


# --- pad / trim / chop, levels ---------------------------------------------------------------


def test_pad_or_trim_exact_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 7), [1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 8, align="center"), [0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 3, align="center"), [2, 3, 4])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 5), x)
    stereo = np.stack([x, -x])
    np.testing.assert_array_equal(audio.pad_or_trim(stereo, 6), [[1, 2, 3, 4, 5, 0], [-1, -2, -3, -4, -5, 0]])
    with pytest.raises(ConfigError, match="num_samples = 0"):
        audio.pad_or_trim(x, 0)
    with pytest.raises(ConfigError, match="align = 'centre'; expected 'start' or 'center'"):
        audio.pad_or_trim(x, 3, align="centre")


def test_chop_exact_values():
    x = np.arange(1.0, 11.0)  # 1 .. 10
    np.testing.assert_array_equal(audio.chop(x, 4), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 0, 0]])
    np.testing.assert_array_equal(audio.chop(x, 4, pad_last=False), [[1, 2, 3, 4], [5, 6, 7, 8]])
    overlapping = audio.chop(x, 4, hop_samples=2)
    np.testing.assert_array_equal(overlapping, [[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10]])
    np.testing.assert_array_equal(audio.chop(x[:3], 4), [[1, 2, 3, 0]])
    assert audio.chop(x[:3], 4, pad_last=False).shape == (0, 4)
    with pytest.raises(ConfigError, match="hop_samples = 0"):
        audio.chop(x, 4, hop_samples=0)


def test_chop_covers_every_sample_once(rng):
    x = rng.standard_normal(1003)
    pieces = audio.chop(x, 100)
    assert pieces.shape == (11, 100)
    np.testing.assert_array_equal(pieces.reshape(-1)[:1003], x)
    assert not pieces.reshape(-1)[1003:].any()


def test_dbfs_exact_values(make_sine):
    square = np.tile([1.0, 1.0, -1.0, -1.0], 100)
    assert audio.peak_dbfs(square) == 0.0 and audio.rms_dbfs(square) == 0.0
    full_sine = make_sine(16000, 1000, amplitude=1.0)  # 16 samples per period, hits +-1 exactly
    assert audio.peak_dbfs(full_sine) == pytest.approx(0.0, abs=1e-6)
    assert audio.rms_dbfs(full_sine) == pytest.approx(-10 * np.log10(2), abs=1e-6)  # -3.0103
    assert audio.peak_dbfs(0.5 * square) == pytest.approx(-6.0206, abs=1e-4)
    assert audio.rms_dbfs(np.full(10, 0.1)) == pytest.approx(-20.0)
    assert audio.peak_dbfs(np.zeros(10)) == audio.rms_dbfs(np.zeros(10)) == audio.MIN_DBFS
    assert audio.rms_dbfs(np.zeros(0)) == audio.MIN_DBFS


# --- silence trimming -------------------------------------------------------------------------


def burst_in_silence(sample_rate: int, burst: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1 s silence, the burst, 1 s silence, with -80 dBFS noise so the position is recoverable."""
    silence = np.zeros(sample_rate, dtype=np.float32)
    x = np.concatenate([silence, burst, silence])
    return x + 1e-4 * rng.standard_normal(len(x)).astype(np.float32)


def locate(piece: np.ndarray, x: np.ndarray) -> int:
    """Index of ``piece`` inside ``x`` (the noise makes the first 16 samples unique)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, 16)
    (hits,) = np.nonzero((windows == piece[:16]).all(axis=1))
    assert len(hits) == 1
    return int(hits[0])


@pytest.mark.parametrize("sample_rate", VAD_TEST_RATES)
@pytest.mark.parametrize("method", ["vad", "energy"])
@pytest.mark.parametrize("kind", ["vowel", "tone"])
def test_trim_silence_keeps_the_burst_and_cuts_the_silence(sample_rate, method, kind, rng, make_sine):
    burst = vowel(sample_rate, 0.5) if kind == "vowel" else make_sine(sample_rate, 440, seconds=0.5)
    x = burst_in_silence(sample_rate, burst, rng)
    pad_s = 0.05
    y = audio.trim_silence(x, sample_rate, method=method, pad_s=pad_s)
    start_s = locate(y, x) / sample_rate
    end_s = start_s + len(y) / sample_rate
    # keeps all of the burst (1.0-1.5 s); cuts to within one 30 ms frame + pad (energy) or the
    # VAD's hangover (WebRTC holds its decision for a few frames after speech ends)
    slack_s = 0.04 if method == "energy" else 0.16
    assert 1.0 - pad_s - slack_s <= start_s <= 1.0
    assert 1.5 <= end_s <= 1.5 + pad_s + slack_s


@pytest.mark.parametrize("sample_rate", VAD_TEST_RATES)
def test_webrtc_vad_runs_at_any_rate(sample_rate, rng):
    """44.1 and 22.05 kHz are not WebRTC VAD rates: the flags come from an internal resample."""
    x = burst_in_silence(sample_rate, vowel(sample_rate, 0.6), rng)
    flags = audio._vad_frames(x, sample_rate, 3)
    assert len(flags) == len(x) // int(audio.VAD_FRAME_S * sample_rate)
    frame_s = np.arange(len(flags)) * audio.VAD_FRAME_S
    assert flags[(frame_s > 1.05) & (frame_s < 1.5)].all()  # speech found inside the vowel
    assert not flags[frame_s < 0.9].any()  # and none in the leading silence


def test_vad_trims_trailing_silence_when_frame_counts_differ():
    """At 22.05 kHz a 30-ms frame is 661 samples here but 661.5 in time, so 60 frames of the
    input hold only 59 VAD frames; the missing flag must be "silence", not a copy of the first."""
    sample_rate = 22050
    x = np.zeros(661 * 60, dtype=np.float32)
    x[: int(0.6 * sample_rate)] = vowel(sample_rate, 0.6)  # speech from the first frame on
    y = audio.trim_silence(x, sample_rate, method="vad", pad_s=0.0)
    assert 0.6 <= len(y) / sample_rate <= 0.8  # not the whole 1.8 s


def test_trim_silence_leaves_silence_and_short_input_alone(rng):
    silence = np.zeros(16000, dtype=np.float32)
    np.testing.assert_array_equal(audio.trim_silence(silence, 16000), silence)
    short = rng.standard_normal(100).astype(np.float32)
    np.testing.assert_array_equal(audio.trim_silence(short, 16000, method="energy"), short)


def test_trim_silence_rejects_bad_options():
    x = np.zeros(1600, dtype=np.float32)
    with pytest.raises(ConfigError, match="aggressiveness = 4"):
        audio.trim_silence(x, 16000, aggressiveness=4)
    with pytest.raises(ConfigError, match="method = 'webrtc'"):
        audio.trim_silence(x, 16000, method="webrtc")


# --- windows of long files ---------------------------------------------------------------------


@pytest.mark.parametrize("file_rate,target", [(16000, None), (44100, 16000), (22050, 16000), (48000, 44100)])
def test_windowed_load_equals_a_slice_of_the_full_load(write_audio, rng, file_rate, target):
    x = (0.3 * rng.standard_normal(3 * file_rate)).astype(np.float32)
    x += np.sin(2 * np.pi * 3100 * np.arange(len(x)) / file_rate).astype(np.float32) * 0.5
    path = write_audio("long.wav", x, file_rate, subtype="FLOAT")
    full, rate = audio.load(path, sample_rate=target)
    for start_s, duration_s in [(0.0, 0.5), (1.0, 0.25), (0.3217, 0.5), (1.23456, 1.0), (0.0001, 0.1), (2.9, None)]:
        window, _ = audio.load(path, sample_rate=target, start_s=start_s, duration_s=duration_s)
        first = int(round(start_s * rate))
        expected = full[first:] if duration_s is None else full[first : first + int(round(duration_s * rate))]
        assert window.shape == expected.shape, (start_s, duration_s)
        np.testing.assert_allclose(window, expected, rtol=0, atol=1e-5, err_msg=f"start_s={start_s}")


def test_window_past_the_end_raises(write_audio, make_sine):
    path = write_audio("a.wav", make_sine(16000, seconds=1.0), 16000)
    for target in (None, 8000):
        with raises_naming(path, "0 samples after decoding.*starts past its end"):
            audio.load(path, sample_rate=target, start_s=1.01, duration_s=0.5)
    with pytest.raises(ConfigError, match="start_s=-1"):
        audio.load(path, start_s=-1)


def test_iter_windows_with_resampling_matches_the_full_load(write_audio, rng):
    x = (0.3 * rng.standard_normal(44100 * 7 + 123)).astype(np.float32)
    path = write_audio("a.wav", x, 44100, subtype="FLOAT")
    full, _ = audio.load(path, sample_rate=16000)
    windows = list(audio.iter_windows(path, window_s=1.0, hop_s=0.7, sample_rate=16000, block_s=2.5))
    assert len(windows) == 1 + int(np.ceil((len(full) - 16000) / 11200))
    for start_s, window in windows:
        first = int(round(start_s * 16000))
        expected = audio.pad_or_trim(full[first : first + 16000], 16000)
        np.testing.assert_allclose(window, expected, rtol=0, atol=1e-5, err_msg=f"window at {start_s} s")


def test_one_hour_file_in_windows_keeps_memory_bounded(tmp_path):
    """57.6 M samples (115 MB as PCM_16, 230 MB as float32) read in 60-s blocks: the traced
    peak stays under 40 MB (one block is 3.8 MB as float32; `chop` adds its index and output)."""
    rate, block_s, hours = 16000, 60, 1
    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(hours * 3600 // block_s):
            f.write((0.1 * rng.standard_normal(block_s * rate)).astype(np.float32))
    assert audio.info(path).duration_s == 3600.0
    spots = {0, 1, 79, 80, 81, 2000, 4799}  # windows 79-81 straddle the first block boundary
    window_s, hop_s = 1.0, 0.75
    seen, count = {}, 0
    tracemalloc.start()
    try:
        for k, (start_s, window) in enumerate(audio.iter_windows(path, window_s=window_s, hop_s=hop_s)):
            assert window.shape == (rate,)
            count += 1
            if k in spots:
                seen[k] = (start_s, window.copy())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 1 + int(np.ceil((3600 - window_s) / hop_s))  # 4,800
    assert peak < 40e6, f"peak {peak / 1e6:.1f} MB while reading a 230 MB (float32) file"
    for k, (start_s, window) in seen.items():
        assert start_s == pytest.approx(k * hop_s)
        first = int(round(start_s * rate))
        expected, _ = sf.read(str(path), start=first, stop=first + rate, dtype="float32")
        np.testing.assert_array_equal(window, audio.pad_or_trim(expected, rate), err_msg=f"window {k}")


# --- bad input ---------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    for read in (audio.load, audio.info):
        with raises_naming(path, r"empty \(0 bytes\).*re-export or remove it"):
            read(path)


def test_truncated_header(tmp_path, write_audio, make_sine):
    good = write_audio("good.wav", make_sine(16000), 16000)
    path = tmp_path / "truncated.wav"
    path.write_bytes(good.read_bytes()[:20])  # RIFF, WAVE and half of the fmt chunk
    with raises_naming(path, "cannot decode audio: looks like WAV.*truncated.*convert it"):
        audio.load(path)


def test_truncated_data_loads_what_is_there(tmp_path, write_audio, make_sine):
    """A header that promises more data than the file holds (an interrupted write) gives the
    samples that are there."""
    x = make_sine(16000)
    good = write_audio("good.wav", x, 16000)
    path = tmp_path / "cut.wav"
    path.write_bytes(good.read_bytes()[: 44 + 2 * 500])
    y, _ = audio.load(path)
    np.testing.assert_allclose(y, x[:500], atol=2.0**-15)


def test_random_bytes(tmp_path, rng):
    path = tmp_path / "noise.wav"
    path.write_bytes(b"\x13\x37" + rng.bytes(4998))
    with raises_naming(path, r"first bytes b'\\x137.*not a known audio header.*or remove it"):
        audio.load(path)
    with raises_naming(path, "not a known audio header"):
        audio.info(path)


def test_directory(tmp_path):
    folder = tmp_path / "clips.wav"
    folder.mkdir()
    with raises_naming(folder, "is a directory, expected an audio file"):
        audio.load(folder)


def test_missing_path(tmp_path):
    path = tmp_path / "nope.wav"
    with raises_naming(path, "no such file; check the path"):
        audio.load(path)
    with raises_naming(path, "no such file"):
        list(audio.iter_windows(path, window_s=1.0))


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_nan_and_inf_samples(write_audio, make_sine, subtype):
    x = make_sine(16000, seconds=0.1)
    x[[3, 50, 700]] = [np.nan, np.inf, -np.inf]
    path = write_audio("bad.wav", x, 16000, subtype=subtype)
    with raises_naming(path, "3 NaN/Inf samples in 1600.*nonfinite='zero'"):
        audio.load(path)
    y, _ = audio.load(path, nonfinite="zero")
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y, np.nan_to_num(x, nan=0, posinf=0, neginf=0))
    with pytest.raises(ConfigError, match="nonfinite = 'skip'"):
        audio.load(path, nonfinite="skip")


def test_zero_samples(write_audio):
    path = write_audio("none.wav", np.zeros(0, dtype=np.float32), 16000)
    assert audio.info(path).frames == 0
    with raises_naming(path, "0 samples after decoding"):
        audio.load(path)


@pytest.mark.parametrize("tag,codec", [(0x0161, "Windows Media Audio"), (0x00FF, "AAC")])
def test_unsupported_codec_in_a_wav(tmp_path, tag, codec):
    path = wav_with_format_tag(tmp_path / "wma.wav", tag)
    with raises_naming(path, f"WAV with format tag 0x{tag:04X} \\({codec}\\).*convert it"):
        audio.load(path)


def test_mpeg_in_wav_that_does_not_decode(tmp_path):
    """libsndfile hands tag 0x0055 to its MP3 decoder, which finds no MPEG frames in the data."""
    mpeglayer3 = struct.pack("<HIHHH", 1, 2, 417, 1, 1393)  # MPEGLAYER3WAVEFORMAT tail
    path = wav_with_format_tag(tmp_path / "mp3in.wav", 0x0055, mpeglayer3)
    with raises_naming(path, r"WAV with format tag 0x0055 \(MPEG Layer III\).*convert it"):
        audio.load(path)


def test_m4a_file(tmp_path):
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(2000))
    with raises_naming(path, "MP4/M4A \\(AAC\\), which libsndfile does not decode.*ffmpeg"):
        audio.load(path)


@pytest.mark.parametrize("written_as,name", [("FLAC", "x.wav"), ("OGG", "x.flac"), ("WAV", "x.mp3")])
def test_a_lying_extension_still_loads(write_audio, make_sine, written_as, name):
    x = make_sine(16000, 1000, seconds=0.5)
    path = write_audio(name, x, 16000, format=written_as)
    assert audio.info(path).format == written_as
    y, _ = audio.load(path)
    assert snr_db(x, y) > 20 if written_as == "OGG" else np.abs(y - x).max() <= 2.0**-15
