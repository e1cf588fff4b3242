"""``compare``: one model on several front ends, and the family / input / front-end columns."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import write_two_tone_pack

from wavetag.config import config_from_dict
from wavetag.errors import ConfigError
from wavetag.train import TrainConfig
from wavetag.train.compare import CompareEntry, compare, entry_config, parse_entry, run_dir_name

SR = 8000


@pytest.fixture(scope="module")
def tone_pack(tmp_path_factory) -> Path:
    """2 classes of tones (400 / 2000 Hz), 12 clips each of 0.25 s at 8 kHz."""
    return write_two_tone_pack(tmp_path_factory.mktemp("cmp_tones"), clips_per_class=12, sample_rate=SR)


def test_entries_name_a_model_and_optionally_its_front_end():
    assert parse_entry("cnn1d") == CompareEntry("cnn1d", "cnn1d")
    assert parse_entry("cnn2d@mfcc") == CompareEntry("cnn2d@mfcc", "cnn2d", {"name": "mfcc"})
    yaml_item = {
        "model": "cnn1d",
        "frontend": {"name": "spectrogram", "n_fft": 128},
        "model_args": {"pool": 2},
        "label": "stft-1d",
    }
    assert parse_entry(yaml_item) == CompareEntry(
        "stft-1d", "cnn1d", {"name": "spectrogram", "n_fft": 128}, {"pool": 2}
    )
    shared = config_from_dict(TrainConfig, {"frontend": {"normalize": "utterance"}, "model_args": {"dropout": 0.1}})
    cfg = entry_config(shared, parse_entry("cnn2d@mfcc"))
    assert (
        cfg.model == "cnn2d"
        and cfg.frontend == {"name": "mfcc", "normalize": "utterance"}
        and cfg.model_args == {"dropout": 0.1}
    )
    assert entry_config(shared, parse_entry("cnn2d")).frontend == {
        "normalize": "utterance"
    }  # the model's default, overridden
    assert run_dir_name("a/b@mfcc") == "a_b@mfcc"


def test_bad_entries_are_refused_naming_what_is_wrong(tone_pack, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown front end 'mfc'; did you mean 'mfcc'"):
        parse_entry("cnn2d@mfc")
    with pytest.raises(ConfigError, match=r"unknown model 'cnn2'"):
        parse_entry("cnn2@mfcc")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['front'\]"):
        parse_entry({"model": "cnn2d", "front": "mfcc"})
    with pytest.raises(ConfigError, match=r"lists an entry twice"):
        compare(tone_pack, ["cnn2d@mfcc", "cnn2d@mfcc"], out_dir=tmp_path / "x")
    with pytest.raises(ConfigError, match=r"model 'sincnet' takes waveform input but front end 'logmel'"):
        compare(tone_pack, ["ds_cnn_s", "sincnet@logmel"], out_dir=tmp_path / "y")  # before anything trains
    assert not (tmp_path / "y" / "ds_cnn_s").exists()


def test_one_model_on_several_front_ends(tone_pack, tmp_path):
    config = config_from_dict(
        TrainConfig,
        {
            "epochs": 1,
            "batch_size": 8,
            "threads": 1,
            "tensorboard": False,
            "tune_detection": False,
            "augment": {"background_noise": {"p": 0.0}},
        },
    )
    entries = [
        "ds_cnn_s@logmel",
        "ds_cnn_s@mfcc",
        {
            "model": "cnn1d",
            "frontend": "spectrogram",
            "model_args": {"pool": 2, "stages": [[8], [8]]},
            "label": "stft-1d",
        },
    ]
    result = compare(tone_pack, entries, out_dir=tmp_path / "cmp", config=config, split="validation", progress=False)
    rows = {r["model"]: r for r in result.rows}
    assert set(rows) == {"ds_cnn_s@logmel", "ds_cnn_s@mfcc", "stft-1d"}
    assert rows["ds_cnn_s@mfcc"]["family"] == "ds_cnn" and rows["ds_cnn_s@mfcc"]["frontend"].startswith("mfcc")
    assert rows["ds_cnn_s@logmel"]["frontend"].startswith("logmel")
    assert (rows["stft-1d"]["family"], rows["stft-1d"]["input_kind"], rows["stft-1d"]["frontend"]) == (
        "cnn1d",
        "image",
        "spectrogram",
    )
    assert (tmp_path / "cmp" / "ds_cnn_s@mfcc" / "best" / "config.json").is_file()
    with open(result.leaderboard.csv, newline="") as f:
        table = {r["model"]: r for r in csv.DictReader(f)}
    assert table["stft-1d"]["family"] == "cnn1d" and table["ds_cnn_s@mfcc"]["input_kind"] == "image"
    assert "| ds_cnn |" in result.leaderboard.markdown.read_text()


def test_cli_takes_models_or_a_models_file(tone_pack, tmp_path, capsys):
    from wavetag.cli import main

    def run(*args: str) -> str:
        with pytest.raises(SystemExit) as done:
            main(["compare", str(tone_pack), "-o", str(tmp_path / "out"), "--no-progress", *args])
        assert done.value.code == 1
        return capsys.readouterr().err

    assert "give the models to compare with --models" in run()
    (tmp_path / "m.yaml").write_text("models: [ds_cnn_s]\n")
    assert "(one of the two)" in run("--models", "ds_cnn_s", "--models-file", str(tmp_path / "m.yaml"))
    (tmp_path / "bad.yaml").write_text("models: ds_cnn_s\n")
    assert "expected 'models:' with a list of entries, found str" in run("--models-file", str(tmp_path / "bad.yaml"))
    (tmp_path / "typo.yaml").write_text("models: [ds_cnn_s@mfc]\n")
    assert "unknown front end 'mfc'" in run("--models-file", str(tmp_path / "typo.yaml"))
