"""DVC against a real S3 API: push a dataset, then fetch it pinned by git revision via dvc.api."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from decig.config import DvcSource
from decig.data.dvc_fetch import fetch_dvc_dataset, pinned_md5
from decig.data.lineage import dvc_dir_md5
from decig.core.errors import DataError

pytestmark = pytest.mark.integration
DVC = str(Path(sys.executable).with_name("dvc"))


def _run(cmd, cwd, env):
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)


@pytest.fixture
def dvc_repo(tmp_path, s3_server, monkeypatch):
    env = {**os.environ, **s3_server.env(), "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)  # dvc.api in this process reads credentials from the env
    repo = tmp_path / "repo"
    (repo / "ds" / "train").mkdir(parents=True)
    for i in range(3):
        (repo / "ds" / "train" / f"{i}.txt").write_text(f"sample {i}")
    _run(["git", "init", "-q"], repo, env)
    _run([DVC, "init", "-q"], repo, env)
    _run([DVC, "remote", "add", "-d", "storage", f"s3://{s3_server.bucket}/dvc"], repo, env)
    _run([DVC, "remote", "modify", "storage", "endpointurl", s3_server.endpoint], repo, env)
    _run([DVC, "add", "ds"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "v1"], repo, env)
    _run(["git", "tag", "v1"], repo, env)
    _run([DVC, "push"], repo, env)
    md5_v1 = dvc_dir_md5(repo / "ds")
    # v2 changes the data; v1 must still resolve to the old bytes.
    (repo / "ds" / "train" / "0.txt").write_text("changed")
    _run([DVC, "add", "ds"], repo, env)
    _run(["git", "commit", "-qam", "v2"], repo, env)
    _run([DVC, "push"], repo, env)
    # Drop the local cache so fetching must go through the S3 remote.
    subprocess.run(["rm", "-rf", str(repo / ".dvc" / "cache")], check=True)
    return repo, md5_v1


def test_fetch_pinned_revision_from_s3(dvc_repo, tmp_path):
    repo, md5_v1 = dvc_repo
    src = DvcSource(repo=str(repo), rev="v1", path="ds")
    assert pinned_md5(src.repo, src.rev, src.path) == md5_v1
    out = fetch_dvc_dataset(src, tmp_path / "fetched")
    assert (out / "train" / "0.txt").read_text() == "sample 0"
    assert dvc_dir_md5(out) == md5_v1
    v2 = fetch_dvc_dataset(DvcSource(repo=str(repo), rev="HEAD", path="ds"), tmp_path / "v2")
    assert (v2 / "train" / "0.txt").read_text() == "changed"


def test_bad_references_fail_clearly(dvc_repo, tmp_path):
    repo, _ = dvc_repo
    with pytest.raises(DataError, match="not tracked"):
        pinned_md5(str(repo), "v1", "nope")
    with pytest.raises(DataError, match="cannot open DVC repository"):
        fetch_dvc_dataset(DvcSource(repo=str(repo), rev="no-such-rev", path="ds"), tmp_path / "x")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("precious")
    with pytest.raises(DataError, match="not empty"):
        fetch_dvc_dataset(DvcSource(repo=str(repo), rev="v1", path="ds"), occupied)
    assert (occupied / "keep.txt").read_text() == "precious"
