"""A small named registry: entries register at import, duplicates raise, unknown names suggest.

One registry each for front ends, models and augmentations (timm ``_registry.py`` in spirit,
without writing into ``globals()``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from wavetag.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (classes or functions).

    >>> reg = Registry("colour")
    >>> @reg.register("red")
    ... def red(): return "r"
    >>> reg.get("red")()
    'r'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict] = {}

    def register(self, name: str, **meta) -> Callable[[T], T]:
        """Decorator that adds an entry under ``name``; ``meta`` is kept for listings."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return add

    def get(self, name: str) -> T:
        """The entry called ``name``; a `ConfigError` listing the choices when it is unknown."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(unknown_name_message(self.kind, name, self.names())) from None

    def meta(self, name: str) -> dict:
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def unknown_name_message(kind: str, name: str, choices: list[str]) -> str:
    """``unknown model 'bcresnet_1'; did you mean 'bc_resnet_1'? (choices: ...)``"""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(choices[:40]) + (", ..." if len(choices) > 40 else "")
    return f"unknown {kind} {name!r}{hint} (choices: {shown})"
