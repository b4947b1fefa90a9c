"""Build a dataset from a format name, as configs and the CLI spell it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from decig.data.aligned import AlignedDataset
from decig.data.base import SeededImageDataset
from decig.data.celebamask import MaskImageDataset
from decig.data.unaligned import UnalignedDataset
from decig.core.errors import DataError

_DATASET_CLASSES: dict[str, type[SeededImageDataset]] = {
    "aligned": AlignedDataset,
    "unaligned": UnalignedDataset,
    "celebamask-hq": MaskImageDataset,
}
FORMATS = tuple(_DATASET_CLASSES)


def _accepted_options(cls: type[SeededImageDataset]) -> set[str]:
    # from_root forwards **opts to __init__, so both signatures define what is accepted.
    names: set[str] = set()
    for fn in (cls.from_root, cls.__init__):  # type: ignore[misc]
        params = inspect.signature(fn).parameters.values()
        names |= {p.name for p in params if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
    return names - {"self", "cls", "root", "split", "paths", "paths_a", "paths_b", "records"}


def load_dataset(format: str, root: str | Path, split: str = "train", **opts: Any) -> SeededImageDataset:
    """``load_dataset("aligned", "data/facades", "train", transform=..., divisible_by=256)``.

    Options are those of the format's constructor (``direction``, ``transform``, ``seed``,
    ``divisible_by``, ``full_decode``, ``serial_batches``, ``split_file``, ...); an option the
    format does not take is a DataError naming the ones it does.
    """
    cls = _DATASET_CLASSES.get(format)
    if cls is None:
        raise DataError(f"unknown dataset format {format!r}; choose one of {', '.join(FORMATS)}")
    accepted = _accepted_options(cls)
    unknown = sorted(set(opts) - accepted)
    if unknown:
        raise DataError(f"dataset format {format!r} does not take {unknown}; it takes {sorted(accepted)}")
    from_root: Callable[..., SeededImageDataset] = cls.from_root  # type: ignore[attr-defined]
    return from_root(root, split, **opts)
