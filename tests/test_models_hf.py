"""Base encoders written by Hugging Face ``transformers`` (``save_pretrained``) load with a fresh
head, and our backbones give the same features as the HF modules (tiny random-init models).

``transformers`` is a dev dependency; without it these tests are skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from wavetag.models import create_model  # noqa: E402

TOL = 1e-4


def save_hf(model, path: Path) -> Path:
    model.eval()
    model.save_pretrained(str(path))
    return path


def test_hf_ast_base_model_loads_with_a_fresh_head(tmp_path):
    torch.manual_seed(0)
    config = transformers.ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=128,
        max_length=100,
    )
    hf = transformers.ASTModel(config)
    path = save_hf(hf, tmp_path / "ast-base")
    model = create_model("ast", num_classes=12, pretrained=path)  # 1 s at 16 kHz: the same 12 x 9 patch grid
    assert model.backbone.num_features == 32 and model.num_classes == 12
    features = torch.randn(2, 1, 128, 101)  # (B, 1, mels, frames), as the front end gives
    model.eval()
    with torch.no_grad():
        ours = model.backbone(features)  # (B, D): mean of the two tokens, then the fresh head LayerNorm
        pooled = hf(input_values=features[:, 0, :, :100].transpose(1, 2)).pooler_output  # HF takes (B, frames, mels)
    assert torch.allclose(ours, F.layer_norm(pooled, (32,)), atol=TOL)
    assert model(torch.zeros(2, 1, 16000)).shape == (2, 12)


def tiny_wav2vec2_fields() -> dict:
    return dict(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
    )


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert"])
def test_hf_speech_base_encoders_load_and_match(tmp_path, kind):
    torch.manual_seed(0)
    if kind == "wav2vec2":
        hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**tiny_wav2vec2_fields()))
    else:
        hf = transformers.HubertModel(transformers.HubertConfig(**tiny_wav2vec2_fields()))
    path = save_hf(hf, tmp_path / kind)
    model = create_model("wav2vec2_classifier", num_classes=3, clip_seconds=0.5, pretrained=path).eval()
    wav = torch.randn(2, 1, 8000)
    with torch.no_grad():
        ours = model.forward_features(wav)  # (B, hidden)
        theirs = hf(wav[:, 0]).last_hidden_state.mean(dim=1)
    assert torch.allclose(ours, theirs, atol=TOL)
    assert model(wav).shape == (2, 3)
