"""wavetag: raw audio in, trusted classifiers out.

The public API is small; everything else lives in the sub-packages named after what they hold.
"""
from wavetag.errors import AudioError, CheckpointError, ConfigError, DataError, WavetagError

__version__ = "0.1.0"

__all__ = [
    "Predictor",
    "create_model",
    "list_models",
    "prepare",
    "train",
    "train_config",
    "evaluate",
    "__version__",
    "WavetagError",
    "AudioError",
    "DataError",
    "ConfigError",
    "CheckpointError",
]


def __getattr__(name: str):
    """The public API, imported lazily so ``import wavetag`` stays light (no torch)."""
    if name == "Predictor":
        from wavetag.inference import Predictor

        return Predictor
    if name in ("create_model", "list_models"):
        import wavetag.models as models

        return getattr(models, name)
    if name == "prepare":
        from wavetag.data import prepare

        return prepare
    if name in ("train", "train_config"):
        import wavetag.train as training

        return getattr(training, name)
    if name == "evaluate":
        from wavetag.evaluate.run import evaluate

        return evaluate
    raise AttributeError(f"module 'wavetag' has no attribute {name!r}")
