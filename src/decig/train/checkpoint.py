"""Atomic, rotating training checkpoints that load with ``torch.load(weights_only=True)``.

Layout of a checkpoint directory::

    step_000000200.pt   one file per saved step (the newest ``keep_last`` are kept)
    step_000000300.pt
    latest.pt           a hard link to the newest step file (a copy where links are unsupported)

Every file is written to a temporary name in the same directory, flushed and fsync'ed, then
renamed over the target with ``os.replace`` (atomic on POSIX), and the directory is fsync'ed so the
rename itself survives a power loss. A crash mid-save therefore leaves the previous checkpoint
untouched, never a truncated file under a real name. ``latest.pt`` is replaced only after its step
file is complete.

The payload is a dict of tensors, numbers, strings, lists and dicts only (see
:mod:`decig.train.rng` for the RNG states), so it can be loaded without trusting the file's author.
Loading prefers ``latest.pt`` and falls back to older step files, with a warning, when it is
unreadable: one corrupted file should not throw away the whole run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from decig.core.errors import CheckpointError
from decig.core.log import get_logger

log = get_logger(__name__)

FORMAT = "decig-train-checkpoint"
FORMAT_VERSION = 1
LATEST = "latest.pt"
_STEP_RE = re.compile(r"^step_(\d{9})\.pt$")
_REQUIRED = ("format", "version", "step", "models", "optimizers", "schedulers", "rng")


def step_filename(step: int) -> str:
    return f"step_{step:09d}.pt"


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; some filesystems (or platforms) cannot open a directory: skip there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` via tmp file + fsync + ``os.replace``; no partial file on failure."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _link_atomic(source: Path, target: Path) -> None:
    """Point ``target`` at ``source``'s content atomically (hard link, or a copy as fallback)."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            # Filesystems without hard links (some network mounts): a full copy, fsync'ed.
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def validate_payload(payload: Any, path: Path) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} does not hold a training checkpoint (got {type(payload).__name__})")
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a decig training checkpoint (format {payload.get('format')!r})")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')!r}; this decig reads version {FORMAT_VERSION}"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path} is missing {', '.join(missing)}")
    return payload


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load and validate one checkpoint file (tensors on CPU, safe unpickler)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip/unpickling errors come in many types; all mean "unreadable"
        raise CheckpointError(f"checkpoint {path} cannot be read safely: {type(err).__name__}: {err}") from None
    return validate_payload(payload, path)


class CheckpointManager:
    """Saves numbered checkpoints into ``directory``, keeps the newest ``keep_last`` plus ``latest.pt``.

    ``writer=False`` (every rank but 0 in data-parallel training) turns :meth:`save` into a no-op,
    so callers need no rank checks of their own; every rank can still read.
    """

    def __init__(self, directory: str | Path, keep_last: int = 3, writer: bool = True) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.writer = writer

    def step_files(self) -> list[tuple[int, Path]]:
        """Saved step files, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _STEP_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save(self, step: int, payload: dict[str, Any]) -> Path | None:
        """Write ``payload`` as the checkpoint of ``step``, update ``latest.pt``, drop old step files."""
        if not self.writer:
            return None
        payload = {"format": FORMAT, "version": FORMAT_VERSION, **payload, "step": int(step)}
        validate_payload(payload, Path("<payload>"))
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / step_filename(step)
        atomic_torch_save(payload, path)
        _link_atomic(path, self.directory / LATEST)
        self._rotate()
        log.debug("checkpoint written: %s", path)
        return path

    def _rotate(self) -> None:
        files = self.step_files()
        for _, path in files[: max(0, len(files) - self.keep_last)]:
            path.unlink(missing_ok=True)

    def has_checkpoint(self) -> bool:
        return (self.directory / LATEST).is_file() or bool(self.step_files())

    def load_latest(self) -> dict[str, Any] | None:
        """The newest readable checkpoint, or None when the directory holds none.

        Raises CheckpointError only when checkpoints exist but none can be read.
        """
        candidates = [self.directory / LATEST] + [path for _, path in reversed(self.step_files())]
        candidates = [p for p in candidates if p.is_file()]
        if not candidates:
            return None
        errors = []
        for path in candidates:
            try:
                payload = read_checkpoint(path)
            except CheckpointError as err:
                log.warning("skipping unreadable checkpoint: %s", err)
                errors.append(str(err))
                continue
            if errors:
                log.warning("resuming from older checkpoint %s (step %d)", path, payload["step"])
            return payload
        raise CheckpointError("no readable checkpoint in " + str(self.directory) + ":\n  " + "\n  ".join(errors))
