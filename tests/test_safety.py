"""Issue 17: nothing a user already has is lost, every setting is checked before anything is
touched, interrupts and damaged checkpoints say what to do, and answers that may be wrong say so.

The training runs reuse the tone pack of `test_serve.build_tone_model` (3 tones, 0.5 s at 8 kHz)
with a 1-epoch ds_cnn_s; each takes about a second.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import soundfile as sf
from test_serve import SR, build_tone_model, tone, wav_bytes

from wavetag.cli import main
from wavetag.config import config_from_dict, merge_dicts
from wavetag.data import prepare
from wavetag.errors import CheckpointError, ConfigError, DataError, WavetagError
from wavetag.train import TrainConfig, train
from wavetag.train import loop as loop_module

TINY = {
    "model": "ds_cnn_s",
    "epochs": 1,
    "batch_size": 16,
    "threads": 1,
    "tensorboard": False,
    "tune_detection": False,
    "frontend": {"name": "logmel", "n_mels": 20, "normalize": "utterance"},
    "augment": {"background_noise": {"p": 0.0}},
}


@pytest.fixture(scope="module")
def tone_model_dir(tmp_path_factory) -> Path:
    return build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")


@pytest.fixture(scope="module")
def pack(tone_model_dir) -> Path:
    return tone_model_dir.parent.parent / "pack"


def tiny(**overrides) -> TrainConfig:
    return config_from_dict(TrainConfig, merge_dicts(TINY, overrides))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes): equal snapshots = nothing touched."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def old_run(pack, tmp_path) -> Path:
    """A finished run that later commands must leave byte-identical when they fail."""
    run = tmp_path / "runs" / "good"
    train(pack, tiny(), run, progress=False, verbose=False)
    return run


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# ----------------------------------------------------------------- 1. check everything, then touch


def test_overwrite_with_unknown_model_keeps_the_old_run(capsys, pack, old_run):
    before = snapshot(old_run)
    code, text = cli(capsys, "train", pack, "-m", "no_such_model", "--overwrite", "-o", old_run, "--no-progress")
    assert code == 1 and "no_such_model" in text
    assert snapshot(old_run) == before
    assert [p.name for p in old_run.parent.iterdir()] == ["good"]  # no backup left behind


def test_overwrite_with_bad_yaml_keeps_the_old_run(capsys, pack, old_run, tmp_path):
    before = snapshot(old_run)
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: ten\n")
    code, text = cli(capsys, "train", pack, "-c", bad, "--overwrite", "-o", old_run, "--no-progress")
    assert code == 1 and f"{bad}: epochs = 'ten': expected an integer" in text
    assert snapshot(old_run) == before


def test_overwrite_failing_before_the_first_checkpoint_puts_the_old_run_back(pack, old_run, monkeypatch):
    before = snapshot(old_run)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loop_module, "make_batch", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(pack, tiny(seed=1), old_run, overwrite=True, progress=False, verbose=False)
    assert snapshot(old_run) == before
    assert [p.name for p in old_run.parent.iterdir()] == ["good"]


def test_overwrite_that_succeeds_replaces_the_run_and_drops_the_backup(pack, old_run):
    train(pack, tiny(seed=1), old_run, overwrite=True, progress=False, verbose=False)
    assert "seed: 1" in (old_run / "config.yaml").read_text()
    assert [p.name for p in old_run.parent.iterdir()] == ["good"]


def test_semi_overwrite_with_unknown_model_keeps_the_old_rounds(pack, tmp_path):
    from wavetag.semi.pseudo import train_semi

    out = tmp_path / "semi"
    (out / "round_0" / "best").mkdir(parents=True)
    (out / "round_0" / "best" / "model.safetensors").write_bytes(b"the model a user has")
    (out / "config.yaml").write_text("model: ds_cnn_s\n")
    before = snapshot(out)
    with pytest.raises(ConfigError, match="no_such_model"):
        train_semi(pack, tiny(model="no_such_model"), out, rounds=2, overwrite=True, progress=False, verbose=False)
    assert snapshot(out) == before


def test_a_run_kept_aside_by_a_killed_overwrite_is_pointed_out(pack, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps notes at the console width
    stale = tmp_path / ".run.previous-999999"
    (stale / "best").mkdir(parents=True)
    train(pack, tiny(), tmp_path / "run", progress=False, verbose=True)
    err = " ".join(capsys.readouterr().err.split())
    assert f"{stale} holds a run an earlier --overwrite kept aside" in err


def test_prepare_failure_keeps_the_old_pack(tmp_path):
    src = tmp_path / "src"
    for label, freq in (("low", 300.0), ("high", 2500.0)):
        (src / label).mkdir(parents=True)
        for i in range(4):
            sf.write(src / label / f"{i}.wav", tone(freq, seed=i), SR, subtype="PCM_16")
    out = tmp_path / "pack"
    prepare(src, out, sample_rate=SR, jobs=1, progress=False)
    before = snapshot(out)
    for wav in src.rglob("*.wav"):
        wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")  # every file now broken: the rebuild fails
    with pytest.raises(DataError, match="rejected"):
        prepare(src, out, sample_rate=SR, jobs=1, progress=False)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "src"]  # no partial pack left


def test_export_failure_keeps_the_old_onnx_files(tone_model_dir, tmp_path, monkeypatch):
    from wavetag.export import export
    from wavetag.export import onnx as onnx_export

    out = tmp_path / "model.onnx"
    export(tone_model_dir, out, int8=True, latency_runs=1, check_clips=4)
    int8 = out.with_name("model.int8.onnx")
    before = {p: p.read_bytes() for p in (out, int8)}
    monkeypatch.setattr(onnx_export, "parity", lambda *a, **k: 1.0)  # ONNX Runtime disagrees with PyTorch
    with pytest.raises(WavetagError, match="Nothing was written"):
        export(tone_model_dir, out, int8=True, latency_runs=1, check_clips=4)
    assert {p: p.read_bytes() for p in (out, int8)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx", "model.onnx"]


# ----------------------------------------------------------------- 2. one strict, typed validation


@pytest.mark.parametrize(
    "data, message",
    [
        ({"epochs": "ten"}, "epochs = 'ten': expected an integer"),
        ({"epochs": True}, "epochs = True: expected an integer"),
        ({"batch_size": 16.7}, "batch_size = 16.7: expected an integer"),
        ({"optimizer": "fast"}, "optimizer = 'fast': expected a mapping of OptimizerConfig fields"),
        ({"optimizer": {"lr": True}}, "optimizer.lr = True: expected a number"),
        ({"augment": {"spec_augment": {"p": "always"}}}, "augment.spec_augment.p = 'always': expected a number"),
        (
            {"augment": {"spec_augment": {"p": 2.0}}},
            r"augment.spec_augment.p = 2.0 is out of range \(expected 0 <= p <= 1\)",
        ),
        ({"model_args": "wide"}, "model_args = 'wide': expected a mapping"),
        (
            {"augment": {"colored_noise": {"colors": ["white", 3]}}},
            r"augment.colored_noise.colors = .*expected a list of strings",
        ),
        ({"epochz": 3}, "unknown field in TrainConfig 'epochz'; did you mean 'epochs'"),
    ],
)
def test_wrong_settings_name_key_value_and_expectation(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(TrainConfig, data).validate()


def test_autoencoder_config_is_checked_the_same_way():
    from wavetag.semi.autoencoder import AutoencoderConfig

    with pytest.raises(ConfigError, match="bottleneck = 64.5: expected an integer"):
        AutoencoderConfig(bottleneck=64.5).validate()


def test_python_api_config_is_checked_the_same_way(pack, tmp_path):
    with pytest.raises(ConfigError, match="epochs = True: expected an integer"):
        train(pack, TrainConfig(epochs=True), tmp_path / "run", progress=False, verbose=False)
    with pytest.raises(ConfigError, match="batch_size = 16.7: expected an integer"):
        train(pack, {"batch_size": 16.7}, tmp_path / "run", progress=False, verbose=False)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
    assert config_from_dict(TrainConfig, {"optimizer": {"lr": 1}}).optimizer.lr == 1.0  # an int is a fine float
    from wavetag.augment.colored_noise import ColoredNoiseConfig

    ColoredNoiseConfig(colors=["pink"]).validate()  # a list where a tuple is declared is fine from Python
    with pytest.raises(ConfigError, match=r"optimizer = \{'lr': 1\}: .*in Python: OptimizerConfig\(...\)"):
        TrainConfig(optimizer={"lr": 1}).validate()


def test_yaml_string_where_a_mapping_belongs_is_not_silently_dropped(capsys, pack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: fast\n")
    code, text = cli(capsys, "train", pack, "-c", bad, "-o", tmp_path / "run", "--no-progress")
    assert code == 1 and "optimizer = 'fast': expected a mapping" in text
    assert not (tmp_path / "run").exists()


def test_front_end_settings_from_cli_and_config_json(capsys, pack, tone_model_dir, tmp_path):
    code, text = cli(
        capsys,
        "train",
        pack,
        "--frontend",
        "logmel",
        "--frontend-set",
        "n_mels=forty",
        "-o",
        tmp_path / "run",
        "--no-progress",
    )
    assert code == 1 and "n_mels = 'forty': expected an integer" in text
    edited = tmp_path / "edited"
    edited.mkdir()
    config = json.loads((tone_model_dir / "config.json").read_text())
    config["model"]["frontend"]["n_mels"] = "forty"
    (edited / "config.json").write_text(json.dumps(config))
    (edited / "model.safetensors").write_bytes((tone_model_dir / "model.safetensors").read_bytes())
    from wavetag.models import load_model_dir

    with pytest.raises(CheckpointError, match=r"config.json.*n_mels = 'forty': expected an integer"):
        load_model_dir(edited)


def test_model_options_are_checked_against_the_model_signature(capsys, pack, tmp_path):
    from wavetag.models import create_model

    with pytest.raises(ConfigError, match="model 'bc_resnet_1': option base_channels = 8.5: expected an integer"):
        create_model("bc_resnet_1", num_classes=3, base_channels=8.5)
    code, text = cli(
        capsys,
        "train",
        pack,
        "-m",
        "ds_cnn_s",
        "--model-set",
        "head_dropout=high",
        "-o",
        tmp_path / "run",
        "--no-progress",
    )
    assert code == 1 and "option head_dropout = 'high': expected a number" in text
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------- 3. interrupts and damaged checkpoints


def _interrupt_at(monkeypatch, call: int) -> None:
    real, calls = loop_module.make_batch, {"n": 0}

    def make_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "make_batch", make_batch)


def test_ctrl_c_says_where_the_checkpoint_is_and_how_to_resume(pack, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _interrupt_at(monkeypatch, 4)  # after the checkpoint at step 2
    with pytest.raises(KeyboardInterrupt):
        train(pack, tiny(checkpoint_every_steps=2), run, progress=False, verbose=False)
    err = capsys.readouterr().err
    assert f"the last checkpoint is {run / 'last'} (step 2: 0 epochs done + 2 steps)" in err
    assert f"wavetag train {pack} --resume {run}" in err
    monkeypatch.undo()
    result = train(pack, None, run, resume=True, progress=False, verbose=False)
    assert result.epochs_done == 1


def test_run_stopped_before_its_first_checkpoint_starts_again_in_place(pack, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _interrupt_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train(pack, tiny(), run, progress=False, verbose=False)
    assert "before the first checkpoint" in capsys.readouterr().err
    monkeypatch.undo()
    result = train(pack, tiny(), run, progress=False, verbose=False)  # no --overwrite needed
    assert result.epochs_done == 1 and (run / "last" / "train_state.json").is_file()


def test_truncated_optimizer_file_gives_a_clean_error(capsys, pack, tmp_path):
    run = tmp_path / "run"
    train(pack, tiny(epochs=2), run, progress=False, verbose=False)
    opt = run / "last" / "optimizer.safetensors"
    opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])
    code, text = cli(capsys, "train", "--resume", run, "--no-progress")
    assert code == 1 and "Traceback" not in text
    assert "optimizer.safetensors" in text and "--overwrite" in text


# ----------------------------------------------------------------- 4. warnings where the answer may be wrong


def test_one_class_pack_is_refused_naming_the_task_that_fits(tmp_path):
    (tmp_path / "src" / "dog").mkdir(parents=True)
    for i in range(3):
        sf.write(tmp_path / "src" / "dog" / f"{i}.wav", tone(300.0, seed=i), SR, subtype="PCM_16")
    with pytest.raises(DataError, match=r"only one class \('dog', 3 clips\).*binary task"):
        prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, jobs=1, progress=False)
    assert not (tmp_path / "pack").exists()


def test_class_with_too_few_clips_for_the_splits_is_warned(tmp_path):
    src = tmp_path / "src"
    for label, count in (("low", 20), ("high", 20), ("rare", 1)):
        (src / label).mkdir(parents=True)
        for i in range(count):
            sf.write(src / label / f"{i}.wav", tone(300.0 + 100 * i, seed=i), SR, subtype="PCM_16")
    summary = prepare(src, tmp_path / "pack", sample_rate=SR, split="random", jobs=1, progress=False)
    rare = [w for w in summary.warnings if "'rare'" in w]
    assert len(rare) == 1 and "has 1 clip and none in validation or test" in rare[0]
    assert not [w for w in summary.warnings if "'low'" in w or "'high'" in w]


def _truncated_wav(tmp_path: Path) -> Path:
    data = wav_bytes(tone(300.0, seconds=1.0))
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: 44 + 2 * 250])  # the header still promises 1 s; 31 ms are there
    return path


def test_predict_warns_on_truncated_and_very_short_audio(capsys, tone_model_dir, tmp_path):
    from wavetag.inference.predictor import Predictor

    cut = _truncated_wav(tmp_path)
    tiny_clip = tmp_path / "tiny.wav"
    sf.write(tiny_clip, tone(300.0)[:10], SR, subtype="PCM_16")
    fine = tmp_path / "fine.wav"
    sf.write(fine, tone(300.0), SR, subtype="PCM_16")
    predictor = Predictor.load(tone_model_dir, threads=1)
    by_name = {Path(r.source).name: r for r in predictor.predict_many([str(cut), str(tiny_clip), str(fine)])}
    assert any("header declares 1.000 s" in w for w in by_name["cut.wav"].warnings)
    assert any("far shorter than the model's 0.5 s window" in w for w in by_name["tiny.wav"].warnings)
    assert by_name["fine.wav"].warnings == []
    code, text = cli(capsys, "predict", tone_model_dir, cut, "--no-progress")
    assert code == 0 and "warning: " in text and "truncated" in text
    long_cut = tmp_path / "long_cut.wav"
    long_cut.write_bytes(wav_bytes(tone(300.0, seconds=3.0))[: 44 + 2 * SR])  # the header says 3 s; 1 s is there
    code, text = cli(capsys, "detect", tone_model_dir, long_cut)
    assert code == 0 and "header declares 3.000 s" in text


def test_http_api_returns_warnings_and_refuses_two_file_fields(tone_model_dir, tmp_path):
    from fastapi.testclient import TestClient

    from wavetag.serve import create_app

    with TestClient(create_app(tone_model_dir, threads=1)) as client:
        cut = _truncated_wav(tmp_path).read_bytes()
        answer = client.post("/v1/classify", content=cut, headers={"Content-Type": "audio/wav"})
        assert answer.status_code == 200 and any("truncated" in w for w in answer.json()["warnings"])
        long_cut = wav_bytes(tone(300.0, seconds=3.0))[: 44 + 2 * SR]  # the header says 3 s; 1 s is there
        detect = client.post("/v1/detect", content=long_cut, headers={"Content-Type": "audio/wav"})
        assert detect.status_code == 200 and any("truncated" in w for w in detect.json()["warnings"])
        fine = client.post("/v1/classify", content=wav_bytes(tone(300.0)), headers={"Content-Type": "audio/wav"})
        assert fine.json()["warnings"] == []
        two = client.post(
            "/v1/classify",
            files=[
                ("file", ("a.wav", wav_bytes(tone(300.0)), "audio/wav")),
                ("file", ("b.wav", wav_bytes(tone(2500.0)), "audio/wav")),
            ],
        )
        assert two.status_code == 422 and "2 fields named 'file'" in two.json()["detail"]


# ----------------------------------------------------------------- 5. a quiet server log


def test_client_that_goes_away_mid_upload_is_one_info_line(tone_model_dir, caplog):
    import asyncio

    from wavetag.serve import create_app

    app = create_app(tone_model_dir, threads=1)
    messages = iter(
        [{"type": "http.request", "body": wav_bytes(tone(300.0))[:100], "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[dict] = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/classify",
        "raw_path": b"/v1/classify",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"audio/wav"), (b"host", b"testserver")],
        "client": ("127.0.0.1", 5),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))
    records = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith(("wavetag", "uvicorn"))]
    assert [r.levelname for r in records] == ["INFO"] and "disconnected" in records[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_synth_overwrite_with_a_voice_that_matches_nothing_keeps_the_old_set(tmp_path):
    from wavetag.data.synth import speech_commands as sc

    out = tmp_path / "set"
    sc.synth_speech_commands(out, speakers=2, words=["yes", "no"], seed=0, noise_seconds=1.0, progress=False, jobs=1)
    before = snapshot(out)
    with pytest.raises(ConfigError, match="matches no voice"):
        sc.synth_speech_commands(
            out,
            speakers=2,
            words=["yes", "no"],
            seed=0,
            noise_seconds=1.0,
            progress=False,
            jobs=1,
            voices=["no_such_voice*"],
            overwrite=True,
        )
    assert snapshot(out) == before


def test_evaluate_failing_while_writing_keeps_the_old_report(tone_model_dir, pack, tmp_path, monkeypatch):
    from wavetag.evaluate import report as report_module
    from wavetag.evaluate import run as run_module

    out = tmp_path / "report"
    out.mkdir()
    (out / "my_notes.txt").write_text("a file of the user's, beside the report")
    result = run_module.evaluate(tone_model_dir, pack, split="test", out=out, max_examples=2)
    assert result.report.report_html == out / "report.html" and (out / "my_notes.txt").is_file()
    before = snapshot(out)

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib fell over")

    monkeypatch.setattr(report_module, "_write_plots", broken)
    with pytest.raises(RuntimeError, match="matplotlib"):  # another split: metrics.json would differ
        run_module.evaluate(tone_model_dir, pack, split="validation", out=out, max_examples=2)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_explore_failing_while_writing_keeps_the_old_report(pack, tmp_path, monkeypatch):
    from wavetag.explore import report as explore_report
    from wavetag.explore import run as explore_run

    out = tmp_path / "explore"
    result = explore_run.explore(pack, out, progress=False)
    assert result.paths.report_html == out / "report.html"
    before = snapshot(out)

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib fell over")

    monkeypatch.setattr(explore_report, "_write_clips_csv", broken)  # after explore.json and the plots
    with pytest.raises(RuntimeError, match="matplotlib"):  # fewer clips: explore.json would differ
        explore_run.explore(pack, out, max_clips=40, progress=False)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explore"]


def test_predict_with_a_broken_model_keeps_the_old_results_file(capsys, tone_model_dir, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(300.0), SR, subtype="PCM_16")
    results = tmp_path / "results.json"
    code, _ = cli(capsys, "predict", tone_model_dir, clip, "--format", "json", "-o", results, "--no-progress")
    assert code == 0 and json.loads(results.read_text())[0]["warnings"] == []
    before = results.read_bytes()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tone_model_dir / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((tone_model_dir / "model.safetensors").read_bytes()[:100])
    code, text = cli(capsys, "predict", broken, clip, "--format", "json", "-o", results, "--no-progress")
    assert code == 1 and "model.safetensors" in text
    assert results.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "clip.wav", "results.json"]


def test_pack_warnings_reach_the_evaluation_report(tone_model_dir, pack, tmp_path):
    import shutil

    from wavetag.evaluate import evaluate

    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    info = json.loads((copy / "pack.json").read_text())
    info["warnings"] = ["class 'high' has 1 clip and none in validation or test, so it is never measured there"]
    (copy / "pack.json").write_text(json.dumps(info))
    result = evaluate(tone_model_dir, copy, split="test", out=tmp_path / "report", max_examples=0)
    assert "- pack: class 'high' has 1 clip" in result.report.report_md.read_text()
