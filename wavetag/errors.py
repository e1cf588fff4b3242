"""The one root exception and its families.

Messages say what was received, what was expected and what to do, naming the file or field:
``"clips/yes/01.wav: 0 samples after decoding (expected at least 1,600 at 16 kHz); the file is
empty or truncated"``. The CLI prints a `WavetagError` as one line and exits 1; any other
exception is a bug and keeps its traceback.
"""


class WavetagError(Exception):
    """Root of every error wavetag raises on purpose."""


class AudioError(WavetagError):
    """Audio that cannot be read, decoded or used (names the file)."""


class DataError(WavetagError):
    """A source, manifest, pack or split that is malformed or inconsistent."""


class ConfigError(WavetagError):
    """An option, config field or name that is unknown or out of range (names the field)."""


class CheckpointError(WavetagError):
    """A model or run directory that is missing, incomplete, edited or unsafe to load."""
