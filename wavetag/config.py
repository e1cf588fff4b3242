"""Configuration is data: dataclasses whose defaults all work, built from dicts and YAML.

Precedence everywhere: dataclass defaults < ``--config x.yaml`` < CLI flags. YAML is read with
``yaml.safe_load`` (it never builds objects). Unknown keys are refused with a suggestion.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from wavetag.errors import ConfigError
from wavetag.registry import unknown_name_message

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any] | None, *, where: str = "") -> C:
    """Build dataclass ``cls`` from ``data``; nested dataclass fields are built recursively.

    ``None`` values are dropped, so an unset CLI flag means "the default". Unknown keys raise a
    `ConfigError` naming the field (``where`` prefixes it, e.g. ``"train.optimizer"``).
    """
    data = {k: v for k, v in (data or {}).items() if v is not None}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(unknown_name_message(f"field in {where or cls.__name__}", key, sorted(fields)))
        sub = _dataclass_type(hints[key])
        if sub is not None and isinstance(value, dict):
            value = config_from_dict(sub, value, where=f"{where}.{key}" if where else key)
        elif isinstance(value, list) and _is_tuple(hints[key]):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (tuples become lists) that `config_from_dict` turns back into ``config``."""
    return _plain(dataclasses.asdict(config))


def merge_dicts(base: dict, override: dict) -> dict:
    """Recursive merge; ``override`` wins; ``None`` in ``override`` keeps ``base``."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a `ConfigError` naming the file for anything else."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value, found {type(data).__name__}")
    return data


def save_yaml(data: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(_plain(data), sort_keys=False))


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise `ConfigError` if ``value`` lies outside ``[low, high]`` (``None`` = open end)."""
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ConfigError(f"{name} = {value!r} is out of range (expected {lo} <= {name} <= {hi})")


def check_choice(name: str, value: Any, choices: typing.Iterable[Any]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(unknown_name_message(name, str(value), [str(c) for c in choices]))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _dataclass_type(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _is_tuple(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(hint))
    return origin is tuple or hint is tuple
