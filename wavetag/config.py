"""Configuration is data: dataclasses whose defaults all work, built from dicts and YAML.

Precedence everywhere: dataclass defaults < ``--config x.yaml`` < CLI flags. YAML is read with
``yaml.safe_load`` (it never builds objects). Unknown keys are refused with a suggestion.

Types are checked strictly, from the dataclass annotations alone (pydantic in strict mode, one
adapter per field): ``epochs: "ten"``, ``epochs: true``, ``batch_size: 16.7``, ``optimizer:
"fast"`` all raise a `ConfigError` naming the key, the value and what is expected, whether the
value came from YAML, a CLI flag, ``config.json`` or Python (`check_types` in ``validate()``).
An integer where a float belongs is fine (``lr: 1``); nothing else is coerced.
"""

from __future__ import annotations

import dataclasses
import functools
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
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__} = {data!r}: expected a mapping of {_field_list(cls)}")
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
    kwargs = check_types(cls, kwargs, where=where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def check_types(cls: type, values: dict[str, Any] | Any, *, where: str = "") -> dict[str, Any]:
    """Check ``values`` (a mapping of field: value, or an instance of dataclass ``cls``) against
    the field annotations of ``cls`` in pydantic's strict mode; return them (ints where a float
    belongs become floats). A `ConfigError` names the first wrong field, its value and the type
    it needs. A nested dataclass field must hold an instance of it (`config_from_dict` builds it
    from a mapping)."""
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    out = dict(values)
    prefix = f"{where}." if where else ""
    for key, value in values.items():
        hint, adapter = _field_adapters(cls).get(key, (None, None))
        sub = _dataclass_type(hint) if hint is not None else None
        if sub is not None:
            if not isinstance(value, sub) and not (value is None and _allows_none(hint)):
                built = f" (in Python: {sub.__name__}(...), or build the whole config with config_from_dict)"
                raise ConfigError(
                    f"{prefix}{key} = {value!r}: expected a mapping of {_field_list(sub)}"
                    + (built if isinstance(value, dict) else "")
                )
            continue
        if adapter is not None:
            out[key] = _validated(adapter, hint, value, f"{prefix}{key}")
    return out


def check_value(name: str, value: Any, hint: Any) -> Any:
    """`check_types` for one value and its annotation (e.g. a model option against its
    constructor's signature); lists are taken for tuples, as JSON and YAML have no tuples."""
    adapter = _adapter(hint)
    return value if adapter is None else _validated(adapter, hint, value, name)


def _validated(adapter: Any, hint: Any, value: Any, name: str) -> Any:
    from pydantic import ValidationError

    try:
        return adapter.validate_python(_as_tuples(hint, value))
    except ValidationError as exc:
        err = exc.errors()[0]
        inner = ".".join(str(part) for part in err["loc"])
        detail = f" (item {inner}: {err['msg'].lower()})" if inner else ""
        raise ConfigError(f"{name} = {value!r}: expected {describe_type(hint)}{detail}") from None


def describe_type(hint: Any) -> str:
    """Words for a type annotation: ``int | None`` -> "an integer (or null)"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        text = " or ".join(describe_type(a) for a in real)
        return text + (" (or null)" if len(real) < len(args) else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list) or hint in (tuple, list):
        items = [a for a in args if a is not Ellipsis]
        if len(set(items)) == 1:
            count = f"{len(items)} " if Ellipsis not in args and len(items) > 1 else ""
            return f"a list of {count}{_plural(items[0])}"
        return f"a list of {len(items)} ({', '.join(_plural(a) for a in items)})" if items else "a list"
    if origin is dict or hint is dict:
        return "a mapping of key: value"
    words = {
        int: "an integer (a whole number, not true/false)",
        float: "a number (not true/false)",
        bool: "true or false",
        str: "a string",
        Path: "a path (a string)",
    }
    return words.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    """``int`` -> "integers": the items of a list, for `describe_type`."""
    if _is_tuple(hint) or typing.get_origin(hint) is list or hint is list:
        return "lists"
    return {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}.get(hint, describe_type(hint))


@functools.cache
def _field_adapters(cls: type) -> dict[str, tuple[Any, Any]]:
    """``{field: (annotation, strict TypeAdapter or None)}``: None for nested dataclasses and for
    annotations pydantic cannot check (those are left to ``validate()``)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[Any, Any]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        out[f.name] = (hint, None if _dataclass_type(hint) is not None else _adapter(hint))
    return out


@functools.cache
def _adapter(hint: Any) -> Any:
    """A strict pydantic ``TypeAdapter`` for ``hint``; None for ``Any`` and for annotations
    pydantic has no schema for (those are left to the ``validate()`` methods)."""
    from pydantic import ConfigDict, TypeAdapter

    if hint is typing.Any:
        return None
    try:
        return TypeAdapter(hint, config=ConfigDict(strict=True))
    except Exception:  # noqa: BLE001 - pydantic raises several kinds here; not checked then
        return None


def _as_tuples(hint: Any, value: Any) -> Any:
    """Lists where ``hint`` wants tuples become tuples, at any depth (YAML and JSON have no
    tuples); nothing else changes."""
    if not isinstance(value, (list, tuple)):
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if _is_tuple(arg) or typing.get_origin(arg) is list:
                return _as_tuples(arg, value)
        return value
    if origin is tuple or hint is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_as_tuples(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(_as_tuples(a, v) for a, v in zip(args, value, strict=False))
        return tuple(value)
    if origin is list and args:
        return [_as_tuples(args[0], v) for v in value]
    return value


def _field_list(cls: type) -> str:
    return f"{cls.__name__} fields ({', '.join(f.name for f in dataclasses.fields(cls))})"


def _allows_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (tuples become lists) that `config_from_dict` turns back into ``config``."""
    return _plain(dataclasses.asdict(config))


def merge_dicts(base: dict, override: dict) -> dict:
    """Recursive merge; ``override`` wins; ``None`` in ``override`` keeps ``base`` (a mapping of
    nothing but ``None``, e.g. unset CLI flags, keeps a non-mapping ``base`` value, so that a
    wrong ``optimizer: fast`` reaches validation instead of vanishing)."""
    out = dict(base)
    for key, value in override.items():
        if value is None or (_all_none(value) and key in out and not isinstance(out[key], dict)):
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def _all_none(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(v is None or _all_none(v) for v in value.values())


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


def check_min_max(min_name: str, min_value: float, max_name: str, max_value: float) -> None:
    """`ConfigError` naming both fields when ``min_value > max_value``."""
    if min_value > max_value:
        raise ConfigError(
            f"{min_name} = {min_value!r} is above {max_name} = {max_value!r}; "
            f"expected {min_name} <= {max_name} (set them equal for a fixed value)"
        )


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
