"""Writing files and folders so that an interruption never leaves half-written results.

Every writer here writes beside its target and renames into place (``os.replace`` is atomic on
one filesystem): a reader sees the old content or the new one, never a mix, and a crash leaves the
old content intact. One helper per shape of output, used everywhere instead of inline
``tmp.write_text(...); tmp.replace(path)`` pairs.

Folders: :func:`staged_dir` writes a whole output folder into a hidden sibling and swaps it in on
success, refusing to replace a non-empty folder unless ``force`` is given, so no command silently
overwrites a user's results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from decig.core.errors import DecigError


def _sibling(path: Path, tag: str) -> Path:
    # Hidden, unique per process and call: parallel writers of one target never share a temp name.
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling, then rename it to ``path``; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def json_safe(value: Any) -> Any:
    """NaN/inf -> None (JSON has no such numbers; a PSNR of identical images is inf), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: str | Path, data: Any, *, sort_keys: bool = False, indent: int = 2) -> Path:
    """JSON with non-finite floats written as ``null`` and a trailing newline."""
    text = json.dumps(json_safe(data), indent=indent, sort_keys=sort_keys, default=str) + "\n"
    return atomic_write_text(path, text)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, streamed (``hashlib.file_digest``)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class OutputExistsError(DecigError):
    """An output folder already holds files and the command was not told to replace them."""


def is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def refuse_nonempty(path: str | Path, *, what: str = "output folder", hint: str = "pass --force to replace it") -> None:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{what} {path} exists and is not a folder")
    if is_nonempty_dir(path):
        raise OutputExistsError(f"{what} {path} is not empty; {hint}, or choose a new folder")


@contextmanager
def staged_dir(target: str | Path, *, force: bool = False, what: str = "output folder") -> Iterator[Path]:
    """Yield an empty temporary sibling of ``target``; on success it becomes ``target``.

    A non-empty ``target`` is refused unless ``force``; with ``force`` the old folder is replaced
    only after the new one is complete. On any exception the temporary folder is removed and
    ``target`` is left exactly as it was.
    """
    target = Path(target)
    if not force:
        refuse_nonempty(target, what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = _sibling(target, "staging")
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = _sibling(target, "old") if target.exists() else None
    if old is not None:
        os.replace(target, old)
    try:
        os.replace(stage, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the previous content back
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
