"""Cached Inception statistics of a real image set (one dataset split).

Embedding the real set dominates an FID evaluation on CPU, and it never changes between
evaluations of different generators, so its features are stored once per *key*. The caller makes
the key from the dataset manifest hash (e.g. ``"facades/val@3f2a9c..."``): a changed dataset gets a
new key and therefore new statistics. The weights identity is part of the file name as well, so
statistics from other Inception weights are never mixed in.

Features (not only mean and covariance) are kept because KID needs the samples; at 2048 float32
values per image that is 8 KiB per image.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decig.core.errors import EvaluationError
from decig.evaluate.cache import atomic_write, cache_root

_FORMAT_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RealStatistics:
    """Features of one real image set and how they were produced."""

    key: str | None
    features: np.ndarray  # [N, 2048] float32
    protocol: dict[str, Any]

    @property
    def count(self) -> int:
        return int(self.features.shape[0])


def stats_path(key: str, weights_sha256: str, cache_dir: str | Path | None = None) -> Path:
    """Readable yet collision-free file name: sanitized key + hash of the exact key + weights id."""
    if not key:
        raise EvaluationError("a real-statistics cache key must be a non-empty string (e.g. dataset/split@manifest-hash)")
    readable = _UNSAFE.sub("_", key)[:80]
    exact = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root(cache_dir) / "fid" / "real" / f"{readable}-{exact}-w{weights_sha256[:12]}-v{_FORMAT_VERSION}.npz"


def save(stats: RealStatistics, path: Path) -> None:
    protocol = json.dumps(stats.protocol, sort_keys=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object keeps numpy from appending ".npz" to the temp name
            np.savez(fh, features=stats.features.astype(np.float32), protocol=np.array(protocol))

    atomic_write(path, write)


def load(path: Path, key: str) -> RealStatistics | None:
    """The cached statistics, or None when absent; a corrupt file raises naming the file."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            features = data["features"]
            protocol = json.loads(str(data["protocol"]))
    except (OSError, KeyError, ValueError) as err:
        raise EvaluationError(f"cached real statistics {path} are unreadable ({err}); delete the file to rebuild") from err
    if protocol.get("real_set") != key or protocol.get("real_count") != features.shape[0]:
        raise EvaluationError(f"cached real statistics {path} do not belong to key {key!r}; delete the file to rebuild")
    return RealStatistics(key, features, protocol)
