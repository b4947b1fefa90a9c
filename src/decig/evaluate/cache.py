"""Where decig keeps derived files that are expensive to rebuild (converted weights, real-image statistics).

``$DECIG_CACHE`` wins so CI and Kubeflow pods can point it at a mounted volume; otherwise
``~/.cache/decig`` as XDG suggests. Files are written through :func:`atomic_write` because two
processes (parallel pipeline tasks, pytest-xdist workers) may fill the same cache at once: a reader
must never see a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV_CACHE = "DECIG_CACHE"
_CHUNK = 1 << 20


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory (created if missing): ``override``, else ``$DECIG_CACHE``, else ``~/.cache/decig``."""
    if override is not None:
        root = Path(override)
    elif os.environ.get(ENV_CACHE):
        root = Path(os.environ[ENV_CACHE])
    else:
        root = Path.home() / ".cache" / "decig"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks (weights files are ~100 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    The rename is atomic on POSIX within one filesystem, so concurrent readers see either the old
    file or the complete new one; a crash leaves only a stray temp file, never a truncated target.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
