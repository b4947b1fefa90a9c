"""``dvc_dir_md5`` / ``dataset_manifest`` agree with what a real ``dvc add`` writes into the .dvc file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from decig.data.lineage import dataset_manifest, dvc_dir_md5
from decig.core.errors import DataError

DVC = Path(sys.executable).with_name("dvc")


def _fill(folder: Path) -> None:
    """Nested folders, an empty file, a dotfile, spaces and non-ASCII names, binary images."""
    (folder / "train" / "deep").mkdir(parents=True)
    (folder / "val").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)).save(folder / "train" / f"{i:05d}.png")
    (folder / "train" / "deep" / "notes with spaces.txt").write_text("hello\n")
    (folder / "val" / "ümlaut.txt").write_text("x")
    (folder / "val" / "empty.bin").write_bytes(b"")
    (folder / ".hidden").write_text("dotfile")
    (folder / "DATASET.md").write_text("# card\n")


def _dvc_add(repo: Path, name: str) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1"}
    run = lambda *cmd: subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("git", "init", "-q")
    run(str(DVC), "init", "-q")
    run(str(DVC), "add", "-q", name)
    (out,) = yaml.safe_load((repo / f"{name}.dvc").read_text())["outs"]
    return out


@pytest.mark.skipif(not DVC.exists(), reason="dvc is installed in the project venv")
def test_md5_equals_dvc_add(tmp_path: Path):
    _fill(tmp_path / "dataset")
    ours = dvc_dir_md5(tmp_path / "dataset")  # before dvc touches the folder
    manifest = dataset_manifest(tmp_path / "dataset")
    out = _dvc_add(tmp_path, "dataset")
    assert out["md5"].endswith(".dir")
    assert ours == out["md5"] == manifest["dvc_md5"]
    assert manifest["nfiles"] == out["nfiles"] and manifest["size"] == out["size"]


def test_manifest_lists_every_file_with_its_md5(tmp_path: Path):
    _fill(tmp_path)
    manifest = dataset_manifest(tmp_path)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert manifest["nfiles"] == len(files) == 8
    assert [f["path"] for f in manifest["files"]] == sorted(p.relative_to(tmp_path).as_posix() for p in files)
    for entry in manifest["files"]:
        data = (tmp_path / entry["path"]).read_bytes()
        assert entry["md5"] == hashlib.md5(data).hexdigest() and entry["size"] == len(data)
    assert manifest["size"] == sum(p.stat().st_size for p in files)
    assert manifest["root"] == str(tmp_path.resolve())


def test_md5_depends_on_content_and_names_only(tmp_path: Path):
    _fill(tmp_path / "a")
    _fill(tmp_path / "b")
    assert dvc_dir_md5(tmp_path / "a") == dvc_dir_md5(tmp_path / "b")
    os.utime(tmp_path / "b" / "DATASET.md", (0, 0))  # mtime does not count
    assert dvc_dir_md5(tmp_path / "a") == dvc_dir_md5(tmp_path / "b")
    (tmp_path / "b" / "DATASET.md").write_text("# card!\n")
    assert dvc_dir_md5(tmp_path / "a") != dvc_dir_md5(tmp_path / "b")
    (tmp_path / "b" / "DATASET.md").write_text("# card\n")
    (tmp_path / "b" / "DATASET.md").rename(tmp_path / "b" / "README.md")
    assert dvc_dir_md5(tmp_path / "a") != dvc_dir_md5(tmp_path / "b")


def test_missing_or_empty_directory(tmp_path: Path):
    with pytest.raises(DataError, match=r"dataset directory .*nothere does not exist or is not a directory"):
        dvc_dir_md5(tmp_path / "nothere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match=r"dataset directory .*file\.txt does not exist or is not a directory"):
        dataset_manifest(tmp_path / "file.txt")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"dataset directory .*empty contains no files"):
        dvc_dir_md5(tmp_path / "empty")
