"""Model zoo: every classifier takes ``wav [B, 1, T]`` (front end inside) and returns logits.

>>> import torch
>>> from wavetag.models import create_model, list_models
>>> model = create_model("bc_resnet_1", num_classes=12)
>>> model(torch.zeros(2, 1, 16000)).shape
torch.Size([2, 12])

One family per module; each registers its named variants on import.
"""

# Families register their variants on import (one module each).
from wavetag.models import (  # noqa: E402,F401
    alexnet,
    ast,
    bc_resnet,
    cnn1d,
    cnn2d,
    densenet,
    ds_cnn,
    embedding_conv,
    embedding_mlp,
    ensemble,  # noqa: E402,F401  (combines trained members of the families above)
    googlenet,
    kwt,
    light_cnn,
    matchboxnet,
    resnet,
    sincnet,
    squeezenet,
    tc_resnet,
    vgg,
    vgg16,
    wav2vec2,
    wavception,
    wavenet,
)
from wavetag.models.base import Classifier
from wavetag.models.factory import create_model
from wavetag.models.io import load_model_dir, save_model_dir  # noqa: E402
from wavetag.models.registry import list_families, list_models, model_info

__all__ = [
    "Classifier",
    "create_model",
    "list_families",
    "list_models",
    "load_model_dir",
    "model_info",
    "save_model_dir",
]
