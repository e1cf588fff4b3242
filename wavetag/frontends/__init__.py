"""Front ends: ``wav [B, 1, T]`` → model input, as ``nn.Module``s inside the model.

>>> from wavetag.frontends import create_frontend
>>> fe = create_frontend("logmel", sample_rate=16000, n_mels=40, normalize="utterance")
"""

# Registration happens on import: one module per front end.
from wavetag.frontends import (  # noqa: E402,F401
    logmel,
    logspec,
    mfcc,
    mulaw,
    spectrogram,
    speech_embedding,
    waveform,
    whisper_encoder,
)
from wavetag.frontends.base import (
    FRONTENDS,
    FrontEnd,
    FrontEndConfig,
    create_frontend,
    frontend_from_dict,
    list_frontends,
)
from wavetag.frontends.norm import FeatureNorm

__all__ = [
    "FRONTENDS",
    "FeatureNorm",
    "FrontEnd",
    "FrontEndConfig",
    "create_frontend",
    "frontend_from_dict",
    "list_frontends",
]
