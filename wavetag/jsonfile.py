"""Read a JSON file that wavetag or a user wrote, with one kind of error for each failure.

Every reader of ``config.json``, ``pack.json``, ``streams.json``, ``wavenet_params.json`` and the
Hugging Face ``config.json`` beside pretrained weights goes through `read_json`, so a truncated or
edited file always gives ``"PATH: not valid JSON (...); ADVICE"`` of the caller's error class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wavetag.errors import DataError, WavetagError


def read_json(
    path: str | Path,
    *,
    error: type[WavetagError] = DataError,
    advice: str = "",
    expect_object: bool = True,
) -> Any:
    """The parsed contents of ``path``; ``error`` naming the file when it cannot be read, is not
    JSON, or (``expect_object``) holds something other than an object. ``advice`` ends the message."""
    path = Path(path)
    tail = f"; {advice}" if advice else ""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc}){tail}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc}){tail}") from None
    if expect_object and not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object, found {type(value).__name__}{tail}")
    return value


def read_json_beside(path: Path, *, error: type[WavetagError]) -> dict[str, Any]:
    """The ``config.json`` in the folder ``path`` (or beside the file ``path``), or ``{}`` if none."""
    file = (path if path.is_dir() else path.parent) / "config.json"
    return read_json(file, error=error) if file.is_file() else {}
