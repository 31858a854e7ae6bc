"""A tiny named registry with lazy imports.

Sources, model backends and exporters register a *dotted path* instead of the
class itself so that heavy modules (pydicom, cv2, llama_cpp) are imported only
when the entry is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str) -> None:
        self._what = what
        self._entries: dict[str, str | T] = {}

    def register(self, name: str, target: str | T) -> None:
        """Register ``target`` ("package.module:Attr" or the object) as ``name``."""
        if name in self._entries:
            raise ValueError(f"{self._what} {name!r} is already registered")
        self._entries[name] = target

    def get(self, name: str) -> T:
        try:
            target = self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self._what} {name!r} (known: {known})") from None
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            obj = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = obj
            return obj
        return target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
