"""``wavetag listen``: WAV streams from a pipe (arecord's unknown-length header), raw PCM, and the
PCM decoding under it."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from test_inference_predictor import SR, build_tone_model, pink, tone
from typer.testing import CliRunner

from wavetag.cli import _load_commands
from wavetag.errors import AudioError, ConfigError
from wavetag.inference.pcm import PcmDecoder, PcmFormat, decode_pcm, read_wav_header
from wavetag.inference.predictor import Predictor

PLANTED = [(300, 1.0, "low"), (900, 3.3, "mid"), (2500, 5.65, "high")]


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory):
    return build_tone_model(tmp_path_factory.getbasetemp() / "inference_tones")


@pytest.fixture(scope="module")
def planted() -> np.ndarray:
    x = pink(8 * SR, 0.03, np.random.default_rng(5))
    for freq, start_s, _ in PLANTED:
        a = int(start_s * SR)
        x[a : a + len(tone(freq))] += tone(freq)
    return x


def s16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def wav_header(rate: int, *, channels: int = 1, bits: int = 16, tag: int = 1, size: int = 0xFFFFFFFF) -> bytes:
    """A WAV header as arecord writes it to a pipe: RIFF and data sizes unknown (0xFFFFFFFF)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", size)
    )


def listen(model, data: bytes, *args: str):
    return CliRunner().invoke(_load_commands(), ["listen", str(model), *args], input=data)


def test_listen_to_an_arecord_stream_prints_the_offline_events(tone_model, planted):
    result = listen(tone_model, wav_header(SR) + s16(planted))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    predictor = Predictor.load(tone_model, threads=1)
    offline = predictor.detect(np.frombuffer(s16(planted), "<i2") / 32768.0, sample_rate=SR)
    assert [x["label"] for x in lines] == ["low", "mid", "high"]
    assert [{k: v for k, v in x.items() if k != "score"} for x in lines] == [
        {k: v for k, v in e.to_dict().items() if k != "score"} for e in offline
    ]
    assert "real-time factor" in result.stderr and "3 events in 8.0 s of audio" in result.stderr


def test_listen_to_raw_float_stereo_at_another_rate_as_a_table(tone_model, planted):
    import soxr

    x = soxr.resample(planted, SR, 16000).astype("<f4")
    stereo = np.stack([x, x], axis=1).tobytes()
    args = ["--raw", "--rate", "16000", "--channels", "2", "--sample-format", "f32le", "--output", "table"]
    result = listen(tone_model, stereo, *args)
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["label", "start_s", "end_s", "score", "fired_s"]
    assert [r.split()[0] for r in rows[1:]] == ["low", "mid", "high"]


def test_a_wav_with_a_known_length_stops_at_its_data(tone_model, planted):
    data = s16(planted)
    tail = b"LIST" + struct.pack("<I", 4) + b"junk"  # a chunk after the samples is not audio
    result = listen(tone_model, wav_header(SR, size=len(data)) + data + tail)
    assert result.exit_code == 0, result.output
    assert "8.0 s of audio" in result.stderr


@pytest.mark.parametrize(
    ("data", "args", "message"),
    [
        (b"garbage bytes that are no WAV", [], "are not a WAV header .*--raw with --rate"),
        (b"RIFF", [], "the stream ended after 4 of the 12 bytes"),
        (wav_header(SR, tag=6, bits=8), [], "WAV format tag 6 with 8 bits per sample; expected PCM"),
        (b"\0" * 100, ["--raw"], "--raw needs --rate"),
        (b"\0" * 100, ["--raw", "--rate", "8000", "--sample-format", "s16be"], "sample format 's16be'"),
        (b"\0" * 100, ["--raw", "--rate", "8000", "--sample-format", "f32le"], None),  # 100 zero bytes: fine
    ],
)
def test_bad_input_is_a_clear_error(tone_model, data, args, message):
    result = listen(tone_model, data, *args)
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1
    assert isinstance(result.exception, (AudioError, ConfigError)) or "error:" in result.output
    import re

    assert re.search(message, str(result.exception)), str(result.exception)


def test_decoder_is_chunk_invariant_and_resamples_in_a_stream():
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    data = s16(x)
    fmt = PcmFormat(8000, 1, "s16le")
    whole = PcmDecoder(fmt, target_rate=8000).feed(data)
    dec = PcmDecoder(fmt, target_rate=8000)
    parts = [dec.feed(data[i : i + 333]) for i in range(0, len(data), 333)]  # odd sizes split samples
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    np.testing.assert_allclose(whole, np.clip(x, -1, 1), atol=1e-4)  # s16(): x * 32767 truncated, / 32768
    up = PcmDecoder(fmt, target_rate=16000)
    chunked = np.concatenate([up.feed(data[i : i + 1000]) for i in range(0, len(data), 1000)] + [up.flush()])
    whole_up = PcmDecoder(fmt, target_rate=16000)
    once = np.concatenate([whole_up.feed(data), whole_up.flush()])
    assert len(chunked) == len(once) == 8000
    np.testing.assert_allclose(chunked, once, atol=1e-5)


def test_decode_every_sample_format():
    assert decode_pcm(bytes([0, 0, 0x80, 0xFF, 0xFF, 0x7F]), PcmFormat(8000, 1, "s24le")).tolist() == [
        -1.0,
        8_388_607 / 8_388_608,
    ]
    assert decode_pcm(bytes([0, 128, 255]), PcmFormat(8000, 1, "u8")).tolist() == [-1.0, 0.0, 127 / 128]
    assert decode_pcm(struct.pack("<ii", -(2**31), 0), PcmFormat(8000, 1, "s32le")).tolist() == [-1.0, 0.0]
    stereo = struct.pack("<hhhh", 16384, -16384, 32767, 32767)
    assert decode_pcm(stereo, PcmFormat(8000, 2, "s16le")).tolist() == [0.0, 32767 / 32768]
    with pytest.raises(AudioError, match="NaN or Inf"):
        decode_pcm(struct.pack("<f", float("nan")), PcmFormat(8000, 1, "f32le"))


def test_read_wav_header_skips_chunks_and_reads_extensible_float():
    import io

    fmt = struct.pack("<HHIIHH", 0xFFFE, 2, 48000, 48000 * 8, 8, 32) + struct.pack("<HHI", 22, 32, 3) + bytes(14)
    fmt = fmt[:24] + struct.pack("<H", 3) + fmt[26:]  # sub-format GUID begins with tag 3 (float)
    head = b"RIFF\0\0\0\0WAVE" + b"LIST" + struct.pack("<I", 3) + b"abc\0" + b"fmt " + struct.pack("<I", len(fmt))
    stream = io.BytesIO(head + fmt + b"data" + struct.pack("<I", 64) + bytes(64))
    got, size = read_wav_header(stream)
    assert (got, size) == (PcmFormat(48000, 2, "f32le"), 64)
    assert stream.read() == bytes(64)


def test_at_fire_prints_each_event_when_it_fires(tone_model, planted):
    final = listen(tone_model, wav_header(SR) + s16(planted))
    early = listen(tone_model, wav_header(SR) + s16(planted), "--at-fire")
    assert early.exit_code == 0, early.output
    got = [json.loads(line) for line in early.stdout.splitlines()]
    want = [json.loads(line) for line in final.stdout.splitlines()]
    assert [set(x) for x in got] == [{"label", "fired_s", "score"}] * 3
    assert [(x["label"], x["fired_s"]) for x in got] == [(x["label"], x["fired_s"]) for x in want]
    table = listen(tone_model, wav_header(SR) + s16(planted), "--at-fire", "--output", "table")
    assert table.stdout.splitlines()[0].split() == ["label", "fired_s", "score"]
    assert [r.split()[0] for r in table.stdout.splitlines()[1:]] == ["low", "mid", "high"]
