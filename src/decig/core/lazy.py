"""Package namespaces whose names load on first use (PEP 562).

Every ``decig`` invocation and every KFP component start imports a few packages just to build a
parser or call one stage; eager ``__init__`` imports would pull torch, matplotlib and
torch-pruning into all of them (seconds each time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_namespace(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package exporting ``names`` (public name -> defining module)."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        namespace[name] = value  # cache: later lookups are plain attribute hits
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
