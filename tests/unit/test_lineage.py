"""Run records carry code, data, config and package facts; the git fallback works without git."""

import json
import subprocess
from pathlib import Path

from decig.config import load_config
from decig.tracking.lineage import build_run_record, git_info, write_run_record


def _init_repo(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "f.txt").write_text("x")
    subprocess.run(["git", "-C", str(path), "add", "f.txt"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], check=True
    )


def test_git_info_reports_sha_and_dirty(tmp_path: Path):
    _init_repo(tmp_path)
    clean = git_info(tmp_path)
    assert clean["source"] == "git" and len(clean["sha"]) == 40 and clean["dirty"] is False
    (tmp_path / "f.txt").write_text("changed")
    assert git_info(tmp_path)["dirty"] is True


def test_git_info_falls_back_to_image_env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DECIG_GIT_SHA", "a" * 40)
    info = git_info(tmp_path)  # not a repository
    assert info == {"sha": "a" * 40, "dirty": False, "source": "image"}
    monkeypatch.delenv("DECIG_GIT_SHA")
    assert git_info(tmp_path)["sha"] == "unknown"


def test_run_record_round_trip(tmp_path: Path):
    cfg = load_config(overrides=["seed=3"])
    rec = build_run_record(
        stage="stage1", config=cfg.to_dict(), config_hash=cfg.config_hash(), seed=cfg.seed, data_md5="abc.dir"
    )
    out = write_run_record(rec, tmp_path)
    loaded = json.loads(out.read_text())
    assert loaded["seed"] == 3 and loaded["data_md5"] == "abc.dir"
    assert loaded["config_hash"] == cfg.config_hash()
    assert loaded["packages"]["torch"].startswith("2.14.1")
    assert set(loaded["git"]) == {"sha", "dirty", "source"}
