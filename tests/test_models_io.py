"""Model directories: config.json + model.safetensors, written atomically, loaded strictly,
pickles refused."""

from __future__ import annotations

import json

import pytest
import torch

from wavetag.errors import CheckpointError
from wavetag.models import create_model, load_model_dir, save_model_dir


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    model = create_model(
        "ds_cnn_s", num_classes=4, frontend={"name": "mfcc", "n_mfcc": 10, "n_mels": 40, "normalize": "dataset"}
    )
    model.frontend.norm.mean.fill_(0.5)  # fitted statistics travel with the weights
    path = save_model_dir(model, tmp_path / "m", extra={"labels": ["a", "b", "c", "d"], "thresholds": [0.5] * 4})
    return model, path


def test_config_describes_the_model(model_dir):
    model, path = model_dir
    config = json.loads((path / "config.json").read_text())
    assert config["format"] == "wavetag-model" and config["model"] == json.loads(json.dumps(model.spec))
    assert config["labels"] == ["a", "b", "c", "d"] and config["sample_rate"] == 16000 and config["clip_seconds"] == 1.0
    assert set(config["versions"]) == {"wavetag", "torch"}
    assert not [p for p in path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_round_trip_keeps_buffers_and_logits(model_dir):
    model, path = model_dir
    loaded, _ = load_model_dir(path)
    assert not loaded.training
    assert torch.equal(loaded.frontend.norm.mean, model.frontend.norm.mean)
    wav = torch.randn(3, 1, 16000)
    with torch.no_grad():
        assert torch.equal(loaded(wav), model.eval()(wav))


def test_overwrite_in_place(model_dir):
    model, path = model_dir
    model.reset_classifier(6)
    save_model_dir(model, path)
    loaded, config = load_model_dir(path)
    assert loaded.num_classes == 6 and "labels" not in config


def test_reserved_extra_field(model_dir, tmp_path):
    model, _ = model_dir
    with pytest.raises(CheckpointError, match="extra field\\(s\\) model are reserved"):
        save_model_dir(model, tmp_path / "x", extra={"model": 1})
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_model_dir(model, tmp_path / "x", extra={"labels": {1, 2}})


def test_missing_weights(model_dir):
    _, path = model_dir
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        load_model_dir(path)


def test_pickled_weights_refused(model_dir):
    model, path = model_dir
    torch.save(model.state_dict(), path / "model.safetensors")
    with pytest.raises(CheckpointError, match="is a pickle/zip \\(torch.save\\) file"):
        load_model_dir(path)


def test_pickle_beside_missing_safetensors_is_named(model_dir):
    model, path = model_dir
    (path / "model.safetensors").unlink()
    torch.save(model.state_dict(), path / "model.pt")
    with pytest.raises(CheckpointError, match="found model.pt: pickled checkpoints are not loaded"):
        load_model_dir(path)


def test_garbage_weights(model_dir):
    _, path = model_dir
    (path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model_dir(path)


def test_missing_config(model_dir):
    _, path = model_dir
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_model_dir(path)


def test_not_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a model directory"):
        load_model_dir(tmp_path / "nope")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["model"].pop("frontend"), "field 'model.frontend' is missing"),
        (lambda c: c["model"].pop("name"), "field 'model.name' is missing"),
        (lambda c: c.pop("model"), "field 'model' is missing"),
        (lambda c: c.update(format="other"), "field 'format' is 'other'"),
        (
            lambda c: c["model"].update(name="ds_cnn_z"),
            "field 'model' does not describe a buildable model .*did you mean",
        ),
        (
            lambda c: c["model"]["kwargs"].update(channels=32),
            "model.num_classes / model.kwargs / model.frontend\\) does not match",
        ),
        (lambda c: c["model"].update(num_classes=5), "head.weight has shape \\(4, 64\\).*expects \\(5, 64\\)"),
        (lambda c: c["model"]["kwargs"].update(bogus=1), "has no option 'bogus'"),
    ],
)
def test_edited_config(model_dir, edit, match):
    _, path = model_dir
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=match):
        load_model_dir(path)


def test_invalid_json_config(model_dir):
    _, path = model_dir
    (path / "config.json").write_text('{"format": ')
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load_model_dir(path)


def test_weights_from_another_model(model_dir, tmp_path):
    _, path = model_dir
    other = save_model_dir(create_model("bc_resnet_1", num_classes=4), tmp_path / "other")
    (path / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="tensors do not match the model built from config.json \\(missing: "):
        load_model_dir(path)
