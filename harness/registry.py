"""Name → object registries, with lazy "module:attr" targets and "did you mean" errors.

Every extension point (losses, dataset adapters, generation backends, scorers, executors, ...)
is a `Registry`. Heavy backends register a string target such as
``"harness.generation.vllm_backend:VLLMGenerator"`` so that importing `harness` never imports
vLLM; the target is imported on first `get`. Nothing in the code base dispatches on names with
if/elif chains: it asks a registry.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # used in messages: "unknown loss 'dpp'"
        self._items: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T | str:
        """Register `obj` under `name`; without `obj`, returns a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        if name not in self._items:
            raise HarnessError(self.unknown_message(name))
        obj = self._items[name]
        if isinstance(obj, str):  # lazy "module:attr" target: import on first use
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._items[name] = obj
        return obj

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._items), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._items))})"

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def peek(self, name: str) -> Any:
        """The registered object, or its "module:attr" string when not imported yet (never imports)."""
        return self._items[name]

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.names():
            yield name, self.get(name)
