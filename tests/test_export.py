"""``wavetag export``: ONNX graph checked, parity with PyTorch, metadata, dynamic axes, int8."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from test_serve import SR, TONES, build_tone_model, tone

from wavetag.errors import DataError, WavetagError
from wavetag.export import export, read_metadata
from wavetag.export import onnx as onnx_export
from wavetag.inference.predictor import Predictor
from wavetag.models import create_model, load_model_dir, save_model_dir
from wavetag.models.onnx_check import onnx_session


@pytest.fixture(scope="module")
def tone_model_dir(tmp_path_factory):
    return build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")


@pytest.fixture(scope="module")
def exported(tone_model_dir, tmp_path_factory):
    """The tone model exported once, with int8."""
    out = tmp_path_factory.mktemp("export") / "tones.onnx"
    return export(tone_model_dir, out, int8=True, latency_runs=5)


def test_graph_passes_checker_and_matches_pytorch(exported):
    assert exported.onnx_path.is_file() and exported.onnx_path.name == "tones.onnx"
    onnx.checker.check_model(str(exported.onnx_path), full_check=True)
    assert exported.max_abs_diff <= 1e-4
    assert exported.parity_clips == 9 and exported.parity_source.startswith("test split of ")
    assert exported.num_samples == int(SR * 0.5) and exported.sample_rate == SR


def test_file_describes_itself(exported, tone_model_dir):
    meta = read_metadata(exported.onnx_path)
    config = json.loads((tone_model_dir / "config.json").read_text())
    assert meta["labels"] == config["labels"] == ["high", "low", "mid"]
    assert meta["sample_rate"] == SR and meta["window_s"] == 0.5 and meta["task"] == "multiclass"
    assert meta["model"] == "ds_cnn_s" and meta["frontend"]["name"] == "logmel"
    assert "softmax" in meta["output"] and "8000 Hz" in meta["input"]


def test_dynamic_batch_and_length(exported, tone_model_dir):
    model, _ = load_model_dir(tone_model_dir)
    session = onnx_session(exported.onnx_path)
    wav = np.stack([tone(f, seed=i) for i, f in enumerate(list(TONES.values()) + [440.0, 1200.0])])[:, None, :]
    assert exported.dynamic_length
    for batch in (wav[:1], wav):  # batch 1 and 5
        got = session.run(["logits"], {"wav": batch})[0]
        with torch.no_grad():
            expected = model(torch.from_numpy(batch)).numpy()
        assert got.shape == (len(batch), 3)
        np.testing.assert_allclose(got, expected, atol=1e-4)
    longer = np.concatenate([wav, wav], axis=2)  # two windows' worth of samples
    assert session.run(["logits"], {"wav": longer})[0].shape == (5, 3)


def test_int8_is_static_qdq_measured_and_judged(exported, tmp_path):
    import onnxruntime as ort

    float_stats, int8_stats = exported.variants
    assert exported.int8_path == exported.onnx_path.with_name("tones.int8.onnx")
    assert int8_stats.size_bytes < float_stats.size_bytes
    assert float_stats.accuracy == 1.0 and int8_stats.accuracy is not None and int8_stats.accuracy >= 0.9
    assert float_stats.accuracy_metric == "test accuracy"
    assert int8_stats.latency_ms > 0 and float_stats.latency_ms > 0
    assert int8_stats.top1_agreement >= 0.9 and int8_stats.max_abs_diff_vs_float is not None
    meta = read_metadata(exported.int8_path)
    assert "int8 static QDQ" in meta["quantization"] and "calibrated on 72 training clips" in meta["quantization"]
    assert meta["int8_verdict"] == exported.int8_verdict and isinstance(exported.int8_pays, bool)
    assert exported.int8_verdict.startswith("int8 pays:" if exported.int8_pays else "this model does not gain")
    assert any("static QDQ" in note and "72 train clips" in note for note in exported.notes)
    onnx.checker.check_model(str(exported.int8_path))
    nodes = onnx.load(str(exported.int8_path)).graph.node
    dequantised = {n.output[0] for n in nodes if n.op_type == "DequantizeLinear"}
    frontend = [n for n in nodes if n.name.startswith("/frontend/")]
    assert frontend and not any(set(n.input) & dequantised for n in frontend)  # the front end runs in float
    assert any(n.name.startswith("/backbone/") and set(n.input) & dequantised for n in nodes)
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
    ort.InferenceSession(str(exported.int8_path), options, providers=["CPUExecutionProvider"])
    loaded = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    assert "QLinearConv" in loaded  # ONNX Runtime runs integer convolutions


def test_int8_verdict_says_when_int8_does_not_pay():
    from wavetag.export.onnx import VariantStats
    from wavetag.export.quantize import int8_verdict

    def pair(float_ms, int8_ms, float_acc, int8_acc):
        return VariantStats("float", "f", 2000, float_ms, float_acc), VariantStats("int8", "i", 1000, int8_ms, int8_acc)

    assert int8_verdict(*pair(1.0, 0.5, 0.95, 0.945)) == (
        True,
        "int8 pays: 2.00x faster, -0.5 points of accuracy, 2.00x smaller",
    )
    pays, text = int8_verdict(*pair(1.0, 1.2, 0.95, 0.93))
    assert not pays and text == (
        "this model does not gain from int8: it is slower (1.200 ms vs 1.000 ms per clip) and it loses 2.0 points "
        "of accuracy (allowed: 1); deploy the float file"
    )
    assert int8_verdict(*pair(1.0, 0.9, None, None))[1].endswith("accuracy not measured, 2.00x smaller")
    assert int8_verdict(*pair(1.0, 0.98, 0.95, 0.95)) == (
        False,
        "this model does not gain from int8: it is barely faster (1.02x: 0.980 ms vs 1.000 ms per clip); "
        "deploy the float file",
    )


def test_every_front_end_scope_stays_float():
    from wavetag.export.quantize import in_frontend

    # an ensemble's members' front ends are exported as /backbone/frontend/ and /backbone/frontend_1/
    for name in ("/frontend/Conv", "/backbone/frontend/MatMul", "/backbone/frontend_1/Conv_20"):
        assert in_frontend(name)
    for name in ("/backbone/backbone/blocks/blocks.0/Conv", "/head/Gemm", "/backbone/frontend_x/Conv"):
        assert not in_frontend(name)


def test_ensemble_front_end_scopes_are_recognised(tmp_path):
    """The exporter names each member's front end /backbone/frontend[_i]/...: all of them are kept float."""
    from wavetag.export.onnx import write_graph
    from wavetag.export.quantize import in_frontend

    members = [{"name": "ds_cnn_s", "frontend": {"name": "logmel", "n_mels": 20}}] * 2
    model = create_model("ensemble", num_classes=2, sample_rate=SR, clip_seconds=0.25, members=members)
    write_graph(model, tmp_path / "e.onnx", num_samples=2000)
    names = [n.name for n in onnx.load(str(tmp_path / "e.onnx")).graph.node]
    scopes = {name.split("/")[2] for name in names if "frontend" in name}
    assert scopes == {"frontend", "frontend_1"}
    assert all(in_frontend(name) for name in names if "frontend" in name)


def test_int8_without_a_pack_is_refused_before_writing(tmp_path):
    model = create_model("ds_cnn_s", num_classes=2, sample_rate=SR, clip_seconds=0.25)
    model_dir = save_model_dir(model, tmp_path / "model", extra={"labels": ["no", "yes"]})
    with pytest.raises(DataError, match="int8 needs calibration clips from the model's training pack.*pass --pack"):
        export(model_dir, int8=True, check_clips=4)
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "model.safetensors"]


def test_predictor_runs_the_exported_file(exported, tone_model_dir):
    torch_p = Predictor.load(tone_model_dir, threads=1)
    onnx_p = Predictor.load(tone_model_dir, backend="onnx", onnx_path=exported.onnx_path, threads=1)
    for label, freq in TONES.items():
        a, b = torch_p.predict(tone(freq), sample_rate=SR), onnx_p.predict(tone(freq), sample_rate=SR)
        assert a.label == b.label == label
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def test_fixed_length_model_and_no_pack(tmp_path):
    """cnn1d's dense layer is sized by the clip length: the graph is fixed-length, and says why."""
    model = create_model("cnn1d", num_classes=2, sample_rate=SR, clip_seconds=0.25)
    model_dir = save_model_dir(model, tmp_path / "model", extra={"labels": ["no", "yes"]})
    report = export(model_dir, check_clips=4)
    assert report.onnx_path == model_dir / "model.onnx" and not report.dynamic_length
    assert report.parity_source == "seeded noise" and report.max_abs_diff <= 1e-4
    assert any("names no pack" in n for n in report.notes)
    assert any(
        n.startswith("fixed length 2000 samples (0.25 s): the model does not run on 4000 samples") for n in report.notes
    )
    shape = onnx_session(report.onnx_path).get_inputs()[0].shape
    assert shape[1:] == [1, 2000] and isinstance(shape[0], str)


def test_parity_failure_is_an_error(tone_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "parity", lambda model, path, clips: 3e-3)
    with pytest.raises(
        WavetagError, match=r"ONNX Runtime differs from PyTorch by up to 0.003 on 9 clips .* expected at most 0.0001"
    ):
        export(tone_model_dir, tmp_path / "m.onnx")


def test_pack_with_other_labels_is_refused(tone_model_dir, tmp_path):
    import soundfile as sf

    from wavetag.data import prepare

    for label in ("a", "b"):
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(4):
            sf.write(tmp_path / "src" / label / f"{i}.wav", tone(500.0 + i), SR)
    prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, clip_seconds=0.5, jobs=1, progress=False)
    with pytest.raises(DataError, match="different label sets"):
        export(tone_model_dir, tmp_path / "m.onnx", pack=tmp_path / "pack")


def test_cli_prints_the_comparison(tone_model_dir, tmp_path, capsys):
    from wavetag.cli import main

    out = tmp_path / "cli.onnx"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tone_model_dir.parent), "-o", str(out), "--int8", "--latency-runs", "3"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.is_file() and out.with_name("cli.int8.onnx").is_file()
    assert "onnx.checker: passed" in text and "parity vs PyTorch: max |diff| =" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith(("float ", "int8 "))}
    assert rows["float"][1] == "1.0000" and rows["int8"][3] == "kB"  # name, accuracy, size, unit, ...
    assert "test accuracy" in text and "median of 3 runs" in text
    verdict = [line for line in text.splitlines() if line.startswith("verdict: ")]
    assert len(verdict) == 1 and ("int8 pays: " in verdict[0] or "does not gain from int8" in verdict[0])
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tone_model_dir), "--format", "tflite"])
    assert exit_info.value.code == 1 and "unknown --format 'tflite'" in capsys.readouterr().err
