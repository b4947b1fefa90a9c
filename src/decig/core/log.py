"""Logging and progress bars, configured once by the CLI.

Progress bars go to stderr through tqdm and switch themselves off when stderr is not a terminal
(CI logs, Kubeflow pods) unless ``DECIG_PROGRESS=1`` forces them, so logs stay readable.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbosity: int = 0) -> None:
    """Configure the root logger: 0 = INFO, 1+ = DEBUG, negative = WARNING."""
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    logging.basicConfig(level=level, format=_FORMAT, datefmt="%H:%M:%S", stream=sys.stderr, force=True)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def _progress_enabled() -> bool:
    forced = os.environ.get("DECIG_PROGRESS")
    if forced is not None:
        return forced not in ("0", "false", "False", "")
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar (disabled when not interactive)."""
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=not _progress_enabled(), dynamic_ncols=True))
