"""End to end on the CLI: synthesise → prepare → train 2 epochs → evaluate → export → predict,
plus compare and the demo's plumbing on a tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wavetag.cli import main


def run_cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:  # typer exits 0 on success
        assert exc.code in (0, None), f"wavetag {' '.join(args)} exited {exc.code}"


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    run_cli(
        [
            "synth",
            "speech-commands",
            str(root / "data"),
            "--speakers",
            "24",
            "--words",
            "yes,no,up,bed",
            "--engines",
            "espeak",
            "--jobs",
            "1",
            "--noise-seconds",
            "20",
            "--quiet",
        ]
    )
    run_cli(
        [
            "prepare",
            str(root / "data"),
            "-o",
            str(root / "pack"),
            "--source",
            "speech-commands",
            "--words",
            "yes,no,up",
            "--clip-seconds",
            "1",
            "--jobs",
            "1",
            "--no-progress",
        ]
    )
    return root


@pytest.mark.slow
def test_prepare_train_evaluate_export_predict(tiny_set, capsys):
    root = tiny_set
    run = root / "run"
    run_cli(
        [
            "train",
            str(root / "pack"),
            "--model",
            "ds_cnn_s",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "-o",
            str(run),
            "--no-progress",
            "--frontend-set",
            "normalize=utterance",
        ]
    )
    assert (run / "best" / "model.safetensors").is_file() and (run / "history.csv").is_file()
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["labels"][:2] == ["_silence_", "_unknown_"] and "detection" in config
    run_cli(["evaluate", str(run), str(root / "pack")])
    metrics = json.loads((run / "report-test" / "metrics.json").read_text())
    assert metrics["split"] == "test" and 0.0 <= metrics["overall"]["accuracy"] <= 1.0
    assert (run / "report-test" / "report.html").read_text().count("<audio") >= 0
    run_cli(["export", str(run / "best"), "-o", str(root / "model.onnx"), "--pack", str(root / "pack")])
    assert (root / "model.onnx").stat().st_size > 1000
    clip = next((root / "data" / "yes").glob("*.wav"))
    capsys.readouterr()
    run_cli(["predict", str(run / "best"), str(clip), "--format", "json"])
    out = capsys.readouterr().out
    assert clip.name in out and any(label in out for label in config["labels"])


@pytest.mark.slow
def test_compare_writes_leaderboard(tiny_set):
    root = tiny_set
    run_cli(
        [
            "compare",
            str(root / "pack"),
            "--models",
            "ds_cnn_s,light_cnn",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "-o",
            str(root / "cmp"),
            "--no-progress",
        ]
    )
    board = (root / "cmp" / "leaderboard.md").read_text()
    assert "ds_cnn_s" in board and "light_cnn" in board
    assert (root / "cmp" / "leaderboard.csv").is_file() and (root / "cmp" / "leaderboard.png").is_file()


def test_recipes_resolve_to_valid_configs():
    from wavetag.config import config_from_dict, config_to_dict, merge_dicts
    from wavetag.errors import ConfigError
    from wavetag.train import TrainConfig
    from wavetag.train.recipes import RECIPES, recipe

    for name in RECIPES:
        config_from_dict(TrainConfig, merge_dicts(config_to_dict(TrainConfig()), recipe(name))).validate()
    with pytest.raises(ConfigError, match="did you mean 'kws'"):
        recipe("kwz")
    assert recipe("kws_whisper") == recipe("kws")  # kws's name for one session still works


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe_name,frontends", [("kws", ["whisper_encoder"]), ("kws_light", ["logmel", "speech_embedding"])]
)
def test_kws_recipes_with_pretrained_front_ends_train_export_predict_and_serve(tiny_set, recipe_name, frontends):
    """The keyword recipes (a head on the frozen Whisper encoder, its encoder in bfloat16 in the
    training step where the CPU has it; a log-mel CNN + a head on the frozen speech embedding)
    through every door: train, evaluate, export (parity checked), predict on the ONNX and torch
    backends, serve."""
    import numpy as np
    from fastapi.testclient import TestClient

    from wavetag.inference import Predictor
    from wavetag.serve.app import create_app

    root = tiny_set
    run = root / f"run-{recipe_name}"
    (root / "fast.yaml").write_text("tune_detection: false\n")  # stream thresholds: covered elsewhere
    run_cli(
        [
            "train",
            str(root / "pack"),
            "--recipe",
            recipe_name,
            "-c",
            str(root / "fast.yaml"),
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "-o",
            str(run),
            "--no-progress",
        ]
    )
    config = json.loads((run / "best" / "config.json").read_text())
    members = config["model"]["kwargs"].get("members", [config["model"]])
    assert [m["frontend"]["name"] for m in members] == frontends
    run_cli(["evaluate", str(run), str(root / "pack")])
    metrics = json.loads((run / "report-test" / "metrics.json").read_text())
    assert metrics["breakdown"]["by_engine"][0]["value"] == "espeak"
    onnx_path = root / f"{recipe_name}.onnx"
    run_cli(["export", str(run / "best"), "-o", str(onnx_path)])  # fails unless ONNX matches torch
    clip = next((root / "data" / "yes").glob("*.wav"))
    torch_pred = Predictor.load(run / "best").predict(clip)
    onnx_pred = Predictor.load(run / "best", backend="onnx", onnx_path=onnx_path).predict(clip)
    assert torch_pred.label == onnx_pred.label
    assert np.allclose(
        [k["score"] for k in torch_pred.to_dict()["top_k"]],
        [k["score"] for k in onnx_pred.to_dict()["top_k"]],
        atol=1e-4,
    )
    with TestClient(create_app(run / "best")) as client:
        reply = client.post("/v1/classify", files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
    assert reply.status_code == 200, reply.text
    assert reply.json()["label"] == torch_pred.label
