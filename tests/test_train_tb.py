"""TensorBoard weight/bias histograms during training, and the test loss `evaluate` reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_two_tone_pack

from wavetag.config import config_from_dict
from wavetag.errors import ConfigError
from wavetag.evaluate.run import evaluate
from wavetag.train import TrainConfig, train

SR = 8000


@pytest.fixture(scope="module")
def two_tone_pack(tmp_path_factory) -> Path:
    """2 classes of tones (400 / 2000 Hz), 16 clips each of 0.25 s at 8 kHz."""
    return write_two_tone_pack(tmp_path_factory.mktemp("two_tones"), clips_per_class=16, sample_rate=SR)


def config(**fields) -> TrainConfig:
    base = {
        "model": "ds_cnn_s",
        "epochs": 2,
        "batch_size": 8,
        "threads": 1,
        "tune_detection": False,
        "frontend": {"name": "logmel", "n_mels": 20, "normalize": "utterance"},
        "augment": {"background_noise": {"p": 0.0}},
    }
    return config_from_dict(TrainConfig, {**base, **fields})


def tb_tags(run: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"histograms": 0}).Reload()
    return {tag: [e.step for e in events.Histograms(tag)] for tag in events.Tags()["histograms"]}


def test_histograms_every_n_steps(two_tone_pack, tmp_path):
    result = train(two_tone_pack, config(tb_histograms_every_steps=2), tmp_path / "run", progress=False, verbose=False)
    tags = tb_tags(tmp_path / "run")
    steps = list(range(2, result.global_step + 1, 2))
    weight_tags = [t for t in tags if t.startswith("weights/")]
    assert "weights/head.weight" in tags and "weights/head.bias" in tags and "grads/head.weight" in tags
    assert all(tags[t] == steps for t in weight_tags)


def test_histograms_at_each_validation_by_default_and_never_with_zero(two_tone_pack, tmp_path):
    result = train(two_tone_pack, config(), tmp_path / "a", progress=False, verbose=False)
    assert tb_tags(tmp_path / "a")["weights/head.weight"] == [row["step"] for row in result.history]
    train(two_tone_pack, config(tb_histograms_every_steps=0), tmp_path / "b", progress=False, verbose=False)
    assert tb_tags(tmp_path / "b") == {}
    with pytest.raises(ConfigError, match="tb_histograms_every_steps"):
        config(tb_histograms_every_steps=-1).validate()


def test_evaluate_reports_the_loss_of_the_split(two_tone_pack, tmp_path):
    result = train(two_tone_pack, config(tensorboard=False), tmp_path / "run", progress=False, verbose=False)
    best = min(row["val_loss"] for row in result.history)  # best/ is kept by val_loss
    report = evaluate(tmp_path / "run", two_tone_pack, split="validation")
    overall = report.metrics["overall"]
    assert list(overall)[:2] == ["loss", "accuracy"]
    assert overall["loss"] == pytest.approx(best, rel=1e-5)
    assert "| loss |" in report.report.report_md.read_text()
