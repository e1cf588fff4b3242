"""The model zoo: one test per property, parametrised over every registered model (timm
``tests/test_models.py``), plus the published parameter counts and the factory's promises."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from wavetag.errors import ConfigError
from wavetag.models import create_model, list_models, load_model_dir, model_info, save_model_dir
from wavetag.models.onnx_check import PARITY_ATOL, export_onnx, noise_clips, parity
from wavetag.models.registry import MODELS as REGISTRY

SAMPLE_RATE = 16000
BATCH = 2
NUM_CLASSES = 5
# Reduced configurations, only where the full one takes more than a couple of seconds per test
# (hundreds of MB of dense or transformer weights to initialise, save and export).
SMALL = {
    "ast": dict(embed_dim=32, depth=2, num_heads=2),
    "wav2vec2_classifier": dict(
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 2, 2),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    ),
    "alexnet": dict(hidden_dim=64),
    "vgg16": dict(hidden_dim=64),
    "vgg_large": dict(dense_dim=256),
    "cnn2d": dict(stages=((8, 8), (16, 16), (32, 32, 32), (64, 64, 64))),
}
CLIP_SECONDS = {"alexnet": 0.7}  # three 3/2 max-pools after an 11/4 conv need >= 63 frames
SLOW = {
    "resnet34",
    "resnet50",
    "densenet121",
    "vgg16",
    "alexnet",
    "googlenet",
    "kwt_3",
    "vgg_large",
    "bc_resnet_8",
    "wavenet_classifier",
}
MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in list_models()]


def build(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=NUM_CLASSES, clip_seconds=clip_seconds(name), **SMALL.get(name, {}), **kwargs)


def clip_seconds(name: str) -> float:
    return CLIP_SECONDS.get(name, 0.5)


def noise(name: str, batch: int = BATCH) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return 0.1 * torch.randn(batch, 1, int(SAMPLE_RATE * clip_seconds(name)), generator=gen)


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_reset(name):
    model = build(name).train()
    logits = model(noise(name))
    assert logits.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    emb = model.forward_features(noise(name))
    assert emb.shape == (BATCH, model.num_features)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"parameters without a finite gradient: {no_grad[:5]}"
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"parameters with an all-zero gradient: {zero[:5]}"
    model.reset_classifier(3)
    assert model.eval()(noise(name)).shape == (BATCH, 3)
    assert model.spec["num_classes"] == 3


@pytest.mark.parametrize("name", MODELS)
def test_save_load_same_logits(name, tmp_path):
    model = build(name).eval()
    save_model_dir(model, tmp_path / "model", extra={"labels": [f"c{i}" for i in range(NUM_CLASSES)]})
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors"]
    loaded, config = load_model_dir(tmp_path / "model")
    assert config["labels"][0] == "c0" and config["model"]["name"] == name
    with torch.no_grad():
        torch.testing.assert_close(loaded(noise(name)), model(noise(name)), rtol=0, atol=0)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_parity(name, tmp_path):
    model = build(name)
    num_samples = int(SAMPLE_RATE * clip_seconds(name))
    path = export_onnx(model, tmp_path / f"{name}.onnx", num_samples=num_samples)
    diff = parity(model, path, noise_clips(BATCH, num_samples)[:, None, :])
    assert diff <= PARITY_ATOL, f"{name}: max |onnx - torch| = {diff:.3g} > {PARITY_ATOL}"
    assert model.training  # export and the parity check restore the mode


@pytest.mark.parametrize("name", list_models())
def test_registry_metadata(name):
    info = model_info(name)
    assert info["input_kind"] in ("waveform", "sequence", "image")
    assert "arXiv" in info["source"] or "Kaggle" in info["source"] or "DCASE" in info["source"]
    module = sys.modules[REGISTRY.get(name).__module__]  # the family file
    assert "arXiv" in module.__doc__ or "Kaggle" in module.__doc__, f"{module.__name__} docstring cites no source"


# --- published sizes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, paper, exact",
    [
        ("bc_resnet_1", 9_200, 9_232),
        ("bc_resnet_1_5", 17_200, None),
        ("bc_resnet_2", 27_300, None),
        ("bc_resnet_3", 54_200, 54_168),
        ("bc_resnet_6", 188_000, None),
        ("bc_resnet_8", 321_000, 321_068),
        ("kwt_1", 607_000, None),
        ("kwt_2", 2_400_000, None),
        ("kwt_3", 5_360_000, None),
        ("ds_cnn_s", 23_000, 23_180),
        ("ds_cnn_m", 137_000, 136_580),
        ("ds_cnn_l", 414_000, 413_736),
    ],
)
def test_parameter_counts_match_papers(name, paper, exact):
    with torch.device("meta"):
        n = create_model(name, num_classes=12).num_params()
    assert abs(n - paper) / paper <= 0.01, f"{name}: {n:,} parameters, paper {paper:,}"
    if exact is not None:
        assert n == exact


@pytest.mark.parametrize(
    "name, macs", [("bc_resnet_1", 2_482_156), ("bc_resnet_3", 14_524_548), ("ds_cnn_s", 2_656_768)]
)
def test_macs_per_clip(name, macs):
    # BC-ResNet: the REFERENCES recount (2.48M / 14.5M; paper 3.1M / 16.2M); DS-CNN-S: 2.66M from the layer specs.
    with torch.device("meta"):
        assert create_model(name, num_classes=12).macs(1.0) == macs


def test_macs_count_attention_matmuls():
    model = create_model("kwt_1", num_classes=12, depth=1)
    frames, dim = 98, 64
    tokens = frames + 1  # + class token
    linear = frames * 40 * 64 + tokens * (3 * 64 * 64 + 64 * 64 + 2 * 64 * 256) + 64 * 12
    assert model.macs() == linear + 2 * tokens * tokens * dim


# --- tasks and the factory ----------------------------------------------------------------------
def test_binary_task_has_one_logit():
    model = create_model("ds_cnn_s", num_classes=2, task="binary")
    logits = model(noise("ds_cnn_s"))
    assert logits.shape == (BATCH, 1)
    loss = model.loss(logits, torch.tensor([0.0, 1.0]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert ((model.probabilities(logits) > 0) & (model.probabilities(logits) < 1)).all()


def test_multilabel_task_sigmoid_per_class():
    model = create_model("ds_cnn_s", num_classes=4, task="multilabel")
    logits = model(noise("ds_cnn_s"))
    assert logits.shape == (BATCH, 4)
    assert not torch.allclose(model.probabilities(logits).sum(-1), torch.ones(BATCH))
    assert torch.isfinite(model.loss(logits, torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])))


def test_spec_rebuilds_the_same_model():
    model = create_model(
        "bc_resnet_1", num_classes=7, frontend={"name": "logmel", "n_mels": 40, "normalize": "utterance"}, dropout=0.2
    )
    spec = json.loads(json.dumps(model.spec))
    assert spec["kwargs"] == {"dropout": 0.2}
    rebuilt = create_model(**spec)
    assert rebuilt.spec == model.spec
    assert rebuilt.frontend.to_dict()["normalize"] == "utterance"


def test_none_kwargs_mean_default():
    a = create_model("bc_resnet_1", num_classes=3, dropout=None, frontend=None, sample_rate=None)
    assert a.spec["kwargs"] == {} and a.spec["frontend"]["n_mels"] == 40


def test_frontend_as_name_and_instance():
    from wavetag.frontends import create_frontend

    assert create_model("cnn1d", num_classes=3, frontend="waveform", clip_seconds=0.5).frontend.name == "waveform"
    fe = create_frontend("mfcc", n_mfcc=10, n_mels=40)
    assert create_model("ds_cnn_s", num_classes=3, frontend=fe).frontend is fe


def test_frontend_kind_mismatch_names_both():
    with pytest.raises(
        ConfigError,
        match=r"model 'sincnet' takes waveform input but front end 'logmel' gives image features; "
        r"use --frontend waveform",
    ):
        create_model("sincnet", num_classes=3, frontend="logmel")


@pytest.mark.parametrize(
    "name, frontend, options, channels",
    [
        ("cnn1d", {"name": "spectrogram", "n_fft": 258}, {"pool": 2}, 130),  # the 8-kHz notebook's STFT 1-D CNN
        ("cnn1d_skip", {"name": "mfcc", "n_mfcc": 13, "n_mels": 40, "delta_order": 2}, {"pool": 2}, 3 * 13),
        ("wavception", {"name": "logmel", "n_mels": 20}, {"pool": 1, "widths": (4, 4)}, 20),
    ],
)
def test_1d_families_take_spectral_features_as_channels(name, frontend, options, channels, tmp_path):
    model = create_model(name, num_classes=12, frontend=frontend, sample_rate=8000, **options)
    first_conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv1d))
    assert first_conv.in_channels == channels and model.input_kind == "image"
    wav = torch.randn(BATCH, 1, 8000)
    assert model(wav).shape == (BATCH, 12)
    again = create_model(**model.spec)  # the model directory rebuilds it
    assert again.input_kind == "image" and again.frontend.to_dict() == model.frontend.to_dict()
    path = export_onnx(model, tmp_path / f"{name}.onnx", num_samples=8000)
    diff = parity(model, path, noise_clips(BATCH, 8000)[:, None, :])
    assert diff <= PARITY_ATOL, f"{name}: max |onnx - torch| = {diff:.3g} > {PARITY_ATOL}"


def test_1d_cnn_on_too_few_frames_says_what_to_change():
    with pytest.raises(ConfigError, match=r"cnn1d: 101 samples/frames pooled 4 times by 4 leave none; .*pool=2"):
        create_model("cnn1d", num_classes=3, frontend="spectrogram")


def test_unknown_model_suggests():
    with pytest.raises(ConfigError, match=r"unknown model 'bcresnet_1'; did you mean 'bc_resnet_1'"):
        create_model("bcresnet_1", num_classes=3)


def test_unknown_option_lists_options():
    with pytest.raises(
        ConfigError, match=r"model 'bc_resnet_1' has no option 'dropuot' \(options: base_channels, sub_bands, dropout\)"
    ):
        create_model("bc_resnet_1", num_classes=3, dropuot=0.1)


def test_bad_task_and_num_classes():
    with pytest.raises(ConfigError, match="task 'binary' takes num_classes 1 or 2"):
        create_model("ds_cnn_s", num_classes=3, task="binary")
    with pytest.raises(ConfigError, match="task = 'regression'"):
        create_model("ds_cnn_s", num_classes=3, task="regression")
    with pytest.raises(ConfigError, match="needs num_classes >= 2"):
        create_model("ds_cnn_s", num_classes=1)


def test_sample_rate_conflict():
    with pytest.raises(ConfigError, match="front end sample_rate = 8000 but sample_rate = 16000"):
        create_model("ds_cnn_s", num_classes=3, frontend={"name": "mfcc", "sample_rate": 8000}, sample_rate=16000)


def test_bc_resnet_needs_bands_divisible_by_sub_bands():
    with pytest.raises(ConfigError, match=r"bc_resnet on 32 frequency bands.*use n_mels = 40"):
        create_model("bc_resnet_1", num_classes=3, frontend={"name": "logmel", "n_mels": 32})


def test_too_short_input_is_a_config_error():
    with pytest.raises(ConfigError, match=r"alexnet: input of per-clip shape \(1, 128, 51\) is too small"):
        create_model("alexnet", num_classes=3, clip_seconds=0.5)


def test_pretrained_refused_where_unsupported(tmp_path):
    with pytest.raises(ConfigError, match="model 'bc_resnet_1' cannot load pretrained weights"):
        create_model("bc_resnet_1", num_classes=3, pretrained=tmp_path)


def test_model_sizes_follow_clip_length():
    short = create_model("kwt_1", num_classes=3, clip_seconds=0.5)
    long = create_model("kwt_1", num_classes=3, clip_seconds=1.0)
    assert short.backbone.pos_embed.shape[1] == 48 + 1 and long.backbone.pos_embed.shape[1] == 98 + 1


def test_wavenet_l2_regularisation():
    model = create_model("wavenet_classifier", num_classes=3, l2=0.5, dilations=[1, 2])
    assert torch.isclose(model.regularization_loss(), 0.5 * model.head.weight.pow(2).sum())
    assert create_model("ds_cnn_s", num_classes=3).regularization_loss() == 0


# --- WaveNet params file ------------------------------------------------------------------------
def test_wavenet_params_file_is_honoured(tmp_path):
    params = {
        "filter_width": 3,
        "sample_rate": 8000,
        "dilations": [1, 2, 4, 1, 2, 4],
        "residual_channels": 8,
        "dilation_channels": 12,
        "quantization_channels": 64,
        "skip_channels": 10,
        "use_biases": False,
        "scalar_input": False,
        "initial_filter_width": 32,
    }
    file = tmp_path / "wavenet_params.json"
    file.write_text(json.dumps(params))
    model = create_model("wavenet_classifier", num_classes=3, params=str(file), clip_seconds=0.25)
    fe, net = model.frontend, model.backbone
    assert fe.name == "mulaw" and fe.sample_rate == 8000 and fe.config.quantization_channels == 64 and fe.config.one_hot
    assert [layer.conv.dilation[0] for layer in net.layers] == [1, 2, 4, 1, 2, 4]
    assert net.causal.in_channels == 64 and net.causal.out_channels == 8 and net.causal.kernel_size == (3,)
    assert net.layers[0].conv.out_channels == 2 * 12 and net.layers[0].conv.kernel_size == (3,)
    assert net.layers[0].skip.out_channels == 10 and model.num_features == 10
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv1d))
    assert net.receptive_field == 2 * 14 + 3
    assert model(torch.zeros(2, 1, 2000)).shape == (2, 3)
    # The spec carries the file's contents, so a model directory rebuilds without it.
    spec = model.spec
    assert "params" not in spec["kwargs"] and spec["kwargs"]["dilations"] == [1, 2, 4, 1, 2, 4]
    assert create_model(**spec).spec == spec


def test_wavenet_scalar_input_and_overrides(tmp_path):
    file = tmp_path / "p.json"
    file.write_text(
        json.dumps({"scalar_input": True, "initial_filter_width": 16, "dilations": [1, 2], "residual_channels": 4})
    )
    model = create_model("wavenet_classifier", num_classes=3, params=file, residual_channels=6, clip_seconds=0.25)
    assert model.input_kind == "waveform" and model.frontend.to_dict()["one_hot"] is False
    assert model.backbone.causal.in_channels == 1 and model.backbone.causal.kernel_size == (16,)
    assert model.backbone.causal.out_channels == 6  # keyword arguments win over the file


def test_wavenet_params_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"filter_width": 2, "dilation": [1]}))
    with pytest.raises(ConfigError, match=r"bad.json: unknown WaveNet parameter\(s\) dilation"):
        create_model("wavenet_classifier", num_classes=3, params=bad)
    with pytest.raises(ConfigError, match="WaveNet params file not found"):
        create_model("wavenet_classifier", num_classes=3, params=tmp_path / "missing.json")
    rate = tmp_path / "rate.json"
    rate.write_text(json.dumps({"sample_rate": 8000}))
    with pytest.raises(ConfigError, match="sample_rate 8000 but the model is built for 16000 Hz"):
        create_model("wavenet_classifier", num_classes=3, params=rate, sample_rate=16000)
