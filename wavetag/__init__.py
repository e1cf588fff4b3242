"""wavetag: raw audio in, trusted classifiers out.

The public API is small; everything else lives in the sub-packages named after what they hold.
"""

from wavetag.errors import AudioError, CheckpointError, ConfigError, DataError, WavetagError
from wavetag.lazy import lazy_getattr

__version__ = "0.1.0"

__all__ = [
    "Predictor",
    "create_model",
    "list_models",
    "prepare",
    "train_config",
    "__version__",
    "WavetagError",
    "AudioError",
    "DataError",
    "ConfigError",
    "CheckpointError",
]


# The public API, imported lazily so ``import wavetag`` stays light (no torch).
__getattr__ = lazy_getattr(
    __name__,
    {
        "Predictor": "wavetag.inference",
        "create_model": "wavetag.models",
        "list_models": "wavetag.models",
        "prepare": "wavetag.data",
        "train_config": "wavetag.train",
    },
)
# ``train`` and ``evaluate`` are also sub-package names, which Python rebinds on import, so they
# are reached as ``from wavetag.train import train`` and ``from wavetag.evaluate import evaluate``.
