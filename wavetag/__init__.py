"""wavetag: raw audio in, trusted classifiers out.

The public API is small; everything else lives in the sub-packages named after what they hold.
"""
from wavetag.errors import AudioError, CheckpointError, ConfigError, DataError, WavetagError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "WavetagError",
    "AudioError",
    "DataError",
    "ConfigError",
    "CheckpointError",
]
