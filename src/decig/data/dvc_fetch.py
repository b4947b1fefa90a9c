"""Fetch a dataset pinned by (git repo, revision, path) through DVC, and verify its md5.

A pipeline run names its data by the git revision of the ``.dvc`` file that pins it, never by a
mutable bucket path, so the same run record always means the same bytes. ``dvc.api`` resolves
the revision, reads the pinned ``<md5>.dir`` and pulls the files from the repository's default
(or named) remote. Credentials for an S3-compatible remote come only from the environment
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``) or the repository's git-ignored ``--local``
DVC config; nothing here accepts them as arguments, so they cannot leak into configs or logs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from decig.core.errors import DataError
from decig.core.log import get_logger

log = get_logger(__name__)


def pinned_md5(repo: str, rev: str, path: str, remote: str | None = None, *, fs: Any = None) -> str:
    """The md5 that revision ``rev`` of ``repo`` pins for ``path`` (``<md5>.dir`` for folders)."""
    fs = fs if fs is not None else _open_fs(repo, rev, remote)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise DataError(f"{path!r} is not tracked in {repo} at revision {rev}") from None
    except Exception as err:  # the filesystem opens lazily: bad repo/rev errors surface here
        raise DataError(f"cannot open DVC repository {repo} at revision {rev}: {err}") from None
    md5 = info.get("md5") or (info.get("dvc_info") or {}).get("md5")
    if not md5:
        raise DataError(f"{path!r} in {repo}@{rev} is not a DVC-tracked output (no md5 recorded)")
    return md5


def _open_fs(repo: str, rev: str, remote: str | None) -> Any:
    from dvc.api import DVCFileSystem

    config = {"core": {"remote": remote}} if remote else None
    try:
        return DVCFileSystem(repo=repo, rev=rev, config=config)
    except Exception as err:  # dvc raises many types (SCMError, RevError, NotDvcRepoError ...)
        raise DataError(f"cannot open DVC repository {repo} at revision {rev}: {err}") from None


def fetch_dvc_dataset(source: Any, dest: str | Path) -> Path:
    """Download ``source.path`` of ``source.repo`` at ``source.rev`` into ``dest`` and verify it.

    ``source`` is a :class:`decig.config.DvcSource`. The download goes to a temporary sibling and
    is renamed into place only after its md5 matches the pinned one, so ``dest`` never holds a
    partial or wrong dataset.
    """
    from decig.data.lineage import dvc_dir_md5

    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise DataError(f"{dest} already exists and is not empty; refusing to overwrite a dataset")
    fs = _open_fs(source.repo, source.rev, source.remote)
    expected = pinned_md5(source.repo, source.rev, source.path, source.remote, fs=fs)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("fetching %s from %s@%s (md5 %s)", source.path, source.repo, source.rev, expected)
    try:
        fs.get(source.path, str(tmp), recursive=True)
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"fetching {source.path} from {source.repo}@{source.rev} failed: {err}") from None
    got = dvc_dir_md5(tmp) if tmp.is_dir() else None
    if got != expected:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"fetched {source.path} has md5 {got}, but {source.rev} pins {expected}")
    if dest.exists():
        dest.rmdir()
    tmp.rename(dest)
    return dest
