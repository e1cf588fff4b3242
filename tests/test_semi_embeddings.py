"""Embeddings of a pack (classifier forward_features, autoencoder bottleneck) and ``wavetag embed``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_semi_common import make_noisy_pack, tiny_config

from wavetag.cli import main
from wavetag.data import Pack
from wavetag.errors import DataError
from wavetag.semi.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder
from wavetag.semi.embeddings import embed, load_embeddings, save_embeddings
from wavetag.train import train


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    path, truth = make_noisy_pack(root)
    result = train(path, tiny_config(epochs=1), root / "run", progress=False, verbose=False)
    return Pack.open(path), result.run_dir, root


def test_embed_shape_and_determinism(setup):
    pack, run, _ = setup
    first = embed(run, pack)  # a run directory gives its best/
    assert first.shape == (len(pack), 64) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, embed(run / "best", pack))  # the same every time
    np.testing.assert_allclose(embed(run, pack, batch_size=7), first, rtol=1e-4, atol=1e-6)  # batching does not matter
    test = embed(run, pack, split="test")
    np.testing.assert_allclose(test, first[pack.split_indices("test")], rtol=1e-5, atol=1e-6)


def test_embeddings_file_round_trip_and_checks(setup, tmp_path):
    pack, run, root = setup
    emb = embed(run, pack)
    path = save_embeddings(tmp_path / "e", emb, pack=pack, model_dir=run)
    assert path.name == "e.npy" and json.loads((tmp_path / "e.json").read_text())["num_clips"] == len(pack)
    np.testing.assert_array_equal(load_embeddings(path, pack), emb)
    np.save(tmp_path / "short.npy", emb[:10])
    with pytest.raises(DataError, match=rf"10 rows of embeddings but the pack .* has {len(pack)} clips"):
        load_embeddings(tmp_path / "short.npy", pack)
    meta = json.loads((tmp_path / "e.json").read_text())
    (tmp_path / "e.json").write_text(json.dumps({**meta, "audio_crc32": "00000000", "pack": "elsewhere"}))
    with pytest.raises(DataError, match="made from the pack elsewhere"):
        load_embeddings(path, pack)


def test_autoencoder_learns_and_its_bottleneck_is_an_embedding(setup, tmp_path):
    pack, _, _ = setup
    config = AutoencoderConfig(
        bottleneck=12,
        channels=(4, 8),
        frontend={"name": "logmel", "n_mels": 16, "normalize": "dataset"},
        epochs=4,
        batch_size=16,
        lr=3e-3,
        threads=1,
    )
    result = train_autoencoder(pack, config, tmp_path / "ae", progress=False)
    mse = [row["train_mse"] for row in result.history]
    assert mse[-1] < mse[0], mse
    for name in ("config.json", "model.safetensors", "history.csv", "reconstructions.png"):
        assert (tmp_path / "ae" / name).is_file(), name
    emb = embed(tmp_path / "ae", pack)
    assert emb.shape == (len(pack), 12) and np.isfinite(emb).all()
    model, config_json = load_autoencoder(tmp_path / "ae")
    assert config_json["bottleneck"] == 12 and config_json["input_shape"] == [1, 16, 48]
    wav = torch.from_numpy(pack.waveform(0)).view(1, 1, -1)
    with torch.no_grad():
        assert model.forward_features(wav).shape == (1, 12)
        x, x_hat = model(wav)
    assert x.shape == x_hat.shape == (1, 1, 16, 48)


def test_embed_command(setup, tmp_path, capsys):
    pack, run, _ = setup
    with pytest.raises(SystemExit) as done:
        main(["embed", str(run), str(pack.path), "-o", str(tmp_path / "cli.npy")])
    assert done.value.code == 0
    assert np.load(tmp_path / "cli.npy").shape == (len(pack), 64)
    assert "next: wavetag relabel" in capsys.readouterr().out


def test_train_autoencoder_command(setup, tmp_path, capsys):
    pack, _, _ = setup
    with pytest.raises(SystemExit) as done:
        main(
            [
                "train-autoencoder",
                str(pack.path),
                "-o",
                str(tmp_path / "ae"),
                "--bottleneck",
                "8",
                "--epochs",
                "1",
                "--n-mels",
                "32",
                "--threads",
                "1",
            ]
        )
    assert done.value.code == 0
    assert "next: wavetag embed" in capsys.readouterr().out
    assert json.loads((tmp_path / "ae" / "config.json").read_text())["bottleneck"] == 8
    with pytest.raises(SystemExit) as done:
        main(["train-autoencoder", str(pack.path), "-o", str(tmp_path / "bad"), "--n-mels", "40"])
    assert done.value.code == 1 and "need the bands (40) to divide by 16" in capsys.readouterr().err
