"""``wavetag train --pretrained PATH``: the run starts from the checkpoint's encoder with a fresh
head, and the trained model directory rebuilds without PATH. The checkpoint is a Hugging Face
style directory (``config.json`` + ``model.safetensors`` with HF names) written by hand, so this
test needs no ``transformers``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

import wavetag.cli.train  # noqa: F401  (registers the command)
from wavetag.cli.app import app
from wavetag.config import load_yaml
from wavetag.data import prepare
from wavetag.errors import ConfigError
from wavetag.models import create_model, load_model_dir

W2V_TINY = dict(
    conv_dim=[8, 8],
    conv_kernel=[10, 3],
    conv_stride=[5, 2],
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=2,
)


@pytest.fixture
def two_class_pack(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("off", "on"):
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(6):
            sf.write(tmp_path / "src" / label / f"spk{i}_nohash_{i}.wav", 0.1 * rng.standard_normal(4000), 8000)
    prepare(tmp_path / "src", tmp_path / "pack", sample_rate=8000, clip_seconds=0.5, jobs=1, progress=False)
    return tmp_path / "pack"


def test_train_pretrained_flag_starts_from_the_checkpoint(two_class_pack, tmp_path):
    torch.manual_seed(0)
    donor = create_model("wav2vec2_classifier", num_classes=3, sample_rate=8000, clip_seconds=0.5, **W2V_TINY)
    ckpt = tmp_path / "w2v-base"
    ckpt.mkdir()
    save_file({f"wav2vec2.{k}": v for k, v in donor.backbone.state_dict().items()}, str(ckpt / "model.safetensors"))
    (ckpt / "config.json").write_text(json.dumps({**W2V_TINY, "architectures": ["Wav2Vec2Model"]}))
    args = [
        "train",
        str(two_class_pack),
        "-m",
        "wav2vec2_classifier",
        "--pretrained",
        str(ckpt),
        "--epochs",
        "1",
        "--lr",
        "1e-7",
        "--batch-size",
        "8",
        "--no-augment",
        "--threads",
        "1",
        "--no-progress",
        "-o",
        str(tmp_path / "run"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_yaml(tmp_path / "run" / "config.yaml")["model_args"]["pretrained"] == str(ckpt.resolve())
    shutil.rmtree(ckpt)  # the model directory rebuilds without the checkpoint
    model, _ = load_model_dir(tmp_path / "run" / "best")
    ours, theirs = model.backbone.feature_extractor.state_dict(), donor.backbone.feature_extractor.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-5) for k in ours)  # lr 1e-7: one epoch barely moves them
    assert model.head.weight.shape == (1, 16)  # a fresh binary head, not the donor's 3 classes


def test_train_pretrained_flag_names_a_missing_path(two_class_pack, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(two_class_pack),
            "-m",
            "wav2vec2_classifier",
            "--pretrained",
            str(tmp_path / "nowhere"),
            "-o",
            str(tmp_path / "run"),
        ],
    )
    assert isinstance(result.exception, ConfigError)
    assert "--pretrained" in str(result.exception) and "nowhere: no such file" in str(result.exception)
    assert not (tmp_path / "run").exists()
