"""One registry helper for every variation point (devices, methods, exporters, penalty shapes, hinges).

timm's ``register_model`` idea, generalised: each thing that varies is a table of named entries,
and that table is the single source of truth that the config schema, the CLI choices, the
pipeline and the docs read. Adding a device, an exporter or a penalty shape is one registered
entry; nothing else lists the names.

Entries must be cheap to import: a registry is read when a parser is built or a config is
validated (``decig --help`` must not load torch), so an entry refers to heavy code by import path
(:func:`resolve`) or imports it inside its methods.

Validation errors name the variation point and list the registered choices, so a typo fails with
the fix in the message::

    >>> DEVICES.get("gpu")
    ConfigError: unknown device 'gpu'; registered devices: cpu, cuda, mac
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from decig.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one variation point, in registration order."""

    def __init__(self, what: str, plural: str | None = None) -> None:
        self.what = what
        self.plural = plural or f"{what}s"
        self._entries: dict[str, T] = {}

    # ------------------------------------------------------------------ registering

    def register(self, name: str, entry: T | None = None, *, replace: bool = False) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, return a decorator that registers its argument."""
        if entry is None:
            def decorator(obj: T) -> T:
                self.register(name, obj, replace=replace)
                return obj

            return decorator
        if not name or name != name.strip():
            raise ValueError(f"{self.what} name {name!r} must be non-empty without surrounding spaces")
        if name in self._entries and not replace:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        try:
            return self._entries.pop(name)
        except KeyError:
            raise ConfigError(f"{self.what} {name!r} is not registered") from None

    @contextmanager
    def temporarily(self, name: str, entry: T) -> Iterator[T]:
        """Register ``entry`` for the duration of a ``with`` block (tests, one-off plugins)."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self._entries.pop(name, None)

    # ------------------------------------------------------------------ reading

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.what} {name!r}; registered {self.plural}: {self.choices()}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._entries.items())

    def choices(self) -> str:
        """The registered names as a comma-separated list (for help texts and messages)."""
        return ", ".join(self._entries) or "(none)"

    def check(self, name: str) -> str:
        """``name`` if registered, else :class:`ConfigError`; a pydantic ``AfterValidator`` fits here."""
        self.get(name)
        return name

    def validator(self) -> Callable[[str], str]:
        """A function for ``Annotated[str, AfterValidator(...)]``: pydantic wants ValueError, not ConfigError."""

        def validate(name: str) -> str:
            if name not in self._entries:
                raise ValueError(f"unknown {self.what} {name!r}; registered {self.plural}: {self.choices()}")
            return name

        return validate

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what}: {self.choices()})"


def resolve(path: str) -> Any:
    """``"package.module:attribute"`` -> the attribute, imported on first use."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{path!r} is not of the form 'package.module:attribute'")
    return getattr(importlib.import_module(module), attr)
