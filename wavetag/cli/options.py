"""Helpers shared by the commands: ``KEY=VALUE`` overrides and config precedence."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from wavetag.config import load_yaml, merge_dicts
from wavetag.errors import ConfigError


def parse_overrides(items: Iterable[str], *, flag: str) -> dict[str, Any]:
    """``["n_mels=64", "f_max_hz=7600"]`` → ``{"n_mels": 64, "f_max_hz": 7600}`` (values as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}; expected KEY=VALUE, e.g. {flag} n_mels=64")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def layered(
    defaults: dict[str, Any], config_file: Path | None, flags: dict[str, Any], *, config_class: type | None = None
) -> dict[str, Any]:
    """defaults < ``--config`` YAML < flags (``None`` flags = not given).

    With ``config_class``, the YAML layer is checked on its own first (types, ranges, unknown
    keys), so an error in the file names the file."""
    merged = merge_dicts(defaults, load_yaml(config_file)) if config_file else dict(defaults)
    if config_file and config_class is not None:
        from wavetag.config import config_from_dict

        try:
            checked = config_from_dict(config_class, merged)
            if hasattr(checked, "validate"):
                checked.validate()
        except ConfigError as exc:
            raise ConfigError(f"{config_file}: {exc}") from None
    return merge_dicts(merged, flags)


def split_commas(values: list[str] | None) -> list[str] | None:
    """``--words yes,no --words up`` -> ["yes", "no", "up"]; None stays None."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]
