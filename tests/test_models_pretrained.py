"""``pretrained=PATH``: torchvision ImageNet state dicts, official/HF AST checkpoints and HF
wav2vec2 checkpoints, each written here by the test with the names the real files use."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from wavetag.errors import CheckpointError
from wavetag.models import create_model

SMALL = {"alexnet": dict(hidden_dim=32), "vgg16": dict(hidden_dim=32)}
CLIP = {"alexnet": 0.7}
# (first conv key, ImageNet head keys with their shapes) per torchvision model
TORCHVISION = {
    "resnet18": ("conv1.weight", {"fc.weight": (1000, 512), "fc.bias": (1000,)}),
    "alexnet": ("features.0.weight", {"classifier.6.weight": (1000, 32), "classifier.6.bias": (1000,)}),
    "vgg16": ("features.0.weight", {"classifier.6.weight": (1000, 32), "classifier.6.bias": (1000,)}),
    "googlenet": (
        "conv1.conv.weight",
        {"fc.weight": (1000, 1024), "fc.bias": (1000,), "aux1.fc2.weight": (1000, 1024)},
    ),
    "densenet121": ("features.conv0.weight", {"classifier.weight": (1000, 1024), "classifier.bias": (1000,)}),
    "squeezenet1_1": ("features.0.weight", {"classifier.1.weight": (1000, 512, 1, 1), "classifier.1.bias": (1000,)}),
}


def imagenet_state(name: str) -> dict[str, torch.Tensor]:
    """A torchvision-format state dict: this architecture's names, a 3-channel first conv, a
    1000-class head (and auxiliary heads where torchvision has them); no BatchNorm
    ``num_batches_tracked`` counters (torchvision's ImageNet files predate them)."""
    torch.manual_seed(123)
    donor = create_model(name, num_classes=3, clip_seconds=CLIP.get(name, 0.5), **SMALL.get(name, {}))
    state = {k: torch.randn_like(v) for k, v in donor.backbone.state_dict().items() if v.is_floating_point()}
    first, head = TORCHVISION[name]
    out_ch, _, *kernel = state[first].shape
    state[first] = torch.randn(out_ch, 3, *kernel)
    state.update({k: torch.randn(*shape) for k, shape in head.items()})
    return state


def test_resnet18_imagenet_weights(tmp_path):
    state = imagenet_state("resnet18")
    torch.save(state, tmp_path / "resnet18-f37072fd.pth")
    model = create_model("resnet18", num_classes=10, pretrained=tmp_path / "resnet18-f37072fd.pth")
    conv1 = model.backbone.conv1.weight
    assert conv1.shape == (64, 1, 7, 7)
    torch.testing.assert_close(conv1, state["conv1.weight"].mean(dim=1, keepdim=True))
    torch.testing.assert_close(model.backbone.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    torch.testing.assert_close(model.backbone.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])
    assert model.head.weight.shape == (10, 512)  # the ImageNet fc is replaced, not loaded
    assert not any(k.startswith("backbone.fc") for k in model.state_dict())
    assert model.spec["kwargs"] == {}  # weights live in the model directory, not the spec


@pytest.mark.parametrize("name", sorted(set(TORCHVISION) - {"resnet18"}))
def test_torchvision_names_load(name, tmp_path):
    state = imagenet_state(name)
    save_file(state, str(tmp_path / "w.safetensors"))
    model = create_model(
        name,
        num_classes=4,
        clip_seconds=CLIP.get(name, 0.5),
        pretrained=tmp_path / "w.safetensors",
        **SMALL.get(name, {}),
    )
    first = TORCHVISION[name][0]
    torch.testing.assert_close(model.backbone.state_dict()[first], state[first].mean(dim=1, keepdim=True))
    assert model(torch.zeros(2, 1, int(16000 * CLIP.get(name, 0.5)))).shape == (2, 4)


def test_densenet_legacy_key_names(tmp_path):
    state = imagenet_state("densenet121")
    legacy = {
        k.replace("denselayer1.norm1.", "denselayer1.norm.1.").replace("denselayer2.conv2.", "denselayer2.conv.2."): v
        for k, v in state.items()
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    torch.save(legacy, tmp_path / "densenet121.pth")
    model = create_model("densenet121", num_classes=4, clip_seconds=0.5, pretrained=tmp_path / "densenet121.pth")
    torch.testing.assert_close(
        model.backbone.features.denseblock1.denselayer1.norm1.weight,
        state["features.denseblock1.denselayer1.norm1.weight"],
    )


def test_wrong_architecture_weights(tmp_path):
    torch.save(imagenet_state("resnet18"), tmp_path / "r18.pth")
    with pytest.raises(
        CheckpointError, match=r"r18.pth: not resnet50 ImageNet weights for this configuration \(missing: "
    ):
        create_model("resnet50", num_classes=4, pretrained=tmp_path / "r18.pth")


def test_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointError, match="pretrained weights not found"):
        create_model("resnet18", num_classes=4, pretrained=tmp_path / "none.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no weights file"):
        create_model("resnet18", num_classes=4, pretrained=tmp_path / "empty")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: cannot read weights"):
        create_model("resnet18", num_classes=4, pretrained=tmp_path / "junk.pth")


# --- AST -----------------------------------------------------------------------------------------
AST_SMALL = dict(embed_dim=32, depth=2, num_heads=2)


def ast_official_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our AST backbone names → YuanGongND/ast checkpoint names (DataParallel ``module.`` prefix)."""
    out = {}
    for k, v in state.items():
        out["module.mlp_head.0." + k[len("head_norm.") :] if k.startswith("head_norm.") else "module.v." + k] = v
    out["module.mlp_head.1.weight"], out["module.mlp_head.1.bias"] = torch.randn(527, 32), torch.randn(527)
    out["module.v.head.weight"], out["module.v.head_dist.weight"] = torch.randn(1000, 32), torch.randn(1000, 32)
    return out


def ast_hf_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our AST backbone names → Hugging Face ``ASTForAudioClassification`` names."""
    simple = {
        "cls_token": "embeddings.cls_token",
        "dist_token": "embeddings.distillation_token",
        "pos_embed": "embeddings.position_embeddings",
    }
    out = {}
    for k, v in state.items():
        if k in simple:
            name = simple[k]
        elif k.startswith("patch_embed.proj."):
            name = "embeddings.patch_embeddings.projection." + k.split(".")[-1]
        elif k.startswith("norm."):
            name = "layernorm." + k.split(".")[-1]
        elif k.startswith("head_norm."):
            out["classifier.layernorm." + k.split(".")[-1]] = v
            continue
        else:
            _, i, *rest = k.split(".")
            sub, kind = ".".join(rest[:-1]), rest[-1]
            if sub == "attn.qkv":
                for part, chunk in zip(("query", "key", "value"), v.chunk(3, dim=0), strict=False):
                    out[f"audio_spectrogram_transformer.encoder.layer.{i}.attention.attention.{part}.{kind}"] = chunk
                continue
            sub = {
                "attn.proj": "attention.output.dense",
                "norm1": "layernorm_before",
                "norm2": "layernorm_after",
                "mlp.fc1": "intermediate.dense",
                "mlp.fc2": "output.dense",
            }[sub]
            name = f"encoder.layer.{i}.{sub}.{kind}"
        out["audio_spectrogram_transformer." + name] = v
    out["classifier.dense.weight"], out["classifier.dense.bias"] = torch.randn(35, 32), torch.randn(35)
    return out


def features(model: torch.nn.Module, seconds: float = 0.5) -> torch.Tensor:
    wav = 0.1 * torch.randn(2, 1, int(16000 * seconds), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.eval().forward_features(wav)


def test_ast_official_checkpoint(tmp_path):
    torch.manual_seed(0)
    donor = create_model("ast", num_classes=527, clip_seconds=0.5, **AST_SMALL)
    torch.save(ast_official_names(donor.backbone.state_dict()), tmp_path / "audioset_10_10_0.4593.pth")
    torch.manual_seed(1)
    model = create_model(
        "ast", num_classes=12, clip_seconds=0.5, pretrained=tmp_path / "audioset_10_10_0.4593.pth", **AST_SMALL
    )
    torch.testing.assert_close(features(model), features(donor))
    assert model.head.weight.shape == (12, 32)


def test_ast_hf_checkpoint_with_config_and_pos_embed_cut(tmp_path):
    torch.manual_seed(0)
    donor = create_model("ast", num_classes=35, clip_seconds=1.0, **AST_SMALL)  # 12 × 9 patch grid
    save_file(ast_hf_names(donor.backbone.state_dict()), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 128,
                "patch_size": 16,
                "frequency_stride": 10,
                "time_stride": 10,
                "num_mel_bins": 128,
                "max_length": 100,
                "layer_norm_eps": 1e-6,
            }
        )
    )
    model = create_model(
        "ast", num_classes=12, clip_seconds=0.5, pretrained=tmp_path
    )  # 12 × 4 grid; arch from config.json
    assert model.backbone.num_features == 32 and len(model.backbone.blocks) == 2
    assert model.spec["kwargs"]["embed_dim"] == 32  # rebuildable without the checkpoint
    old = donor.backbone.pos_embed[0, 2:].reshape(12, 9, 32)
    new = model.backbone.pos_embed[0, 2:].reshape(12, 4, 32)
    torch.testing.assert_close(new, old[:, 2:6])  # centre cut along time
    torch.testing.assert_close(model.backbone.blocks[1].attn.qkv.weight, donor.backbone.blocks[1].attn.qkv.weight)


def test_ast_pos_embed_grows_by_interpolation(tmp_path):
    torch.manual_seed(0)
    donor = create_model("ast", num_classes=3, clip_seconds=0.5, **AST_SMALL)
    torch.save(ast_official_names(donor.backbone.state_dict()), tmp_path / "a.pth")
    model = create_model("ast", num_classes=3, clip_seconds=1.0, pretrained=tmp_path / "a.pth", **AST_SMALL)
    assert model.backbone.pos_embed.shape == (1, 12 * 9 + 2, 32)
    torch.testing.assert_close(model.backbone.pos_embed[:, :2], donor.backbone.pos_embed[:, :2])


# --- wav2vec2 ------------------------------------------------------------------------------------
W2V_SMALL = dict(
    conv_dim=[16, 16, 16],
    conv_kernel=[10, 3, 3],
    conv_stride=[5, 2, 2],
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)


def wav2vec2_hf_state(state: dict[str, torch.Tensor], *, parametrized: bool, prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if parametrized:
            k = k.replace("conv.weight_g", "conv.parametrizations.weight.original0").replace(
                "conv.weight_v", "conv.parametrizations.weight.original1"
            )
        out[prefix + k] = v
    out[prefix + "masked_spec_embed"] = torch.rand(32)
    out["quantizer.codevectors"] = torch.rand(1, 640, 128)
    out["project_q.weight"] = torch.rand(256, 256)
    return out


@pytest.mark.parametrize(
    "parametrized, prefix, filename",
    [
        (True, "", "model.safetensors"),
        (False, "wav2vec2.", "pytorch_model.bin"),
    ],
)
def test_wav2vec2_hf_checkpoint(tmp_path, parametrized, prefix, filename):
    torch.manual_seed(0)
    donor = create_model("wav2vec2_classifier", num_classes=3, clip_seconds=0.5, **W2V_SMALL)
    state = wav2vec2_hf_state(donor.backbone.state_dict(), parametrized=parametrized, prefix=prefix)
    if filename.endswith(".safetensors"):
        save_file(state, str(tmp_path / filename))
    else:
        torch.save(state, tmp_path / filename)
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                **W2V_SMALL,
                "architectures": ["Wav2Vec2ForPreTraining"],
                "conv_bias": False,
                "feat_extract_norm": "group",
                "do_stable_layer_norm": False,
            }
        )
    )
    torch.manual_seed(1)
    model = create_model("wav2vec2_classifier", num_classes=5, clip_seconds=0.5, pretrained=tmp_path)
    torch.testing.assert_close(features(model), features(donor))
    assert model.spec["kwargs"]["hidden_size"] == 32 and model.head.weight.shape == (5, 32)


def test_wav2vec2_layer_norm_variant_builds():
    model = create_model(
        "wav2vec2_classifier",
        num_classes=3,
        clip_seconds=0.5,
        **{**W2V_SMALL, "feat_extract_norm": "layer", "conv_bias": True, "do_stable_layer_norm": True},
    )
    assert all(hasattr(layer, "layer_norm") for layer in model.backbone.feature_extractor.conv_layers)
    assert features(model).shape == (2, 32)
