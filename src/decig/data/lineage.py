"""Dataset fingerprints for lineage: per-file md5 manifests and the directory md5 DVC records.

The directory hash is computed by dvc_data itself (the library ``dvc add`` uses), so the value
logged with a training run can be compared verbatim with the ``md5: <hash>.dir`` line of a
``.dvc`` file; re-implementing DVC's tree serialisation would drift silently with DVC releases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dvc_data.hashfile.build import build
from dvc_data.hashfile.db import HashFileDB
from dvc_data.hashfile.tree import Tree
from dvc_objects.fs.local import LocalFileSystem
from dvc_objects.fs.memory import MemoryFileSystem

from decig.core.errors import DataError


def _build_tree(path: str | Path) -> Tree:
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset directory {root} does not exist or is not a directory")
    # DVC stages hashes in an object database; an in-memory one keeps this read-only on disk.
    odb = HashFileDB(MemoryFileSystem(), "/decig-dvc-md5")
    _, _, tree = build(odb, str(root.resolve()), LocalFileSystem(), "md5", dry_run=True)
    if not isinstance(tree, Tree) or not len(tree):
        raise DataError(f"dataset directory {root} contains no files")
    return tree


def dvc_dir_md5(path: str | Path) -> str:
    """The ``<md5>.dir`` value ``dvc add PATH`` writes into ``PATH.dvc`` (DVC 3, no .dvcignore)."""
    tree = _build_tree(path)
    assert tree.hash_info is not None and tree.hash_info.value is not None  # set by Tree.digest()
    return tree.hash_info.value


def dataset_manifest(root: str | Path) -> dict[str, Any]:
    """Every file under ``root`` with its size and md5, plus totals and the DVC directory md5.

    Files are listed by POSIX relative path in sorted order, so manifests diff cleanly and are
    JSON-serialisable as they are.
    """
    tree = _build_tree(root)
    files = [
        {"path": "/".join(key), "size": meta.size, "md5": hash_info.value}
        for key, meta, hash_info in sorted(tree, key=lambda entry: entry[0])
    ]
    assert tree.hash_info is not None
    return {
        "root": str(Path(root).resolve()),
        "nfiles": len(files),
        "size": sum(entry["size"] for entry in files),
        "dvc_md5": tree.hash_info.value,
        "files": files,
    }
