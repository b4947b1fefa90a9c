"""The built-in demo dataset regenerates to exactly what ``data.dvc`` pins (md5, file count, size).

This is the promise that lets any machine rebuild the versioned dataset instead of pulling it:
if rendering or PNG encoding drifts by one byte, the md5 changes and this test fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from decig.data.demo import generate_demo_dataset
from decig.data.lineage import dataset_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pinned() -> dict:
    (out,) = yaml.safe_load((REPO_ROOT / "data.dvc").read_text())["outs"]
    return out


@pytest.mark.slow
def test_default_demo_dataset_matches_data_dvc(tmp_path: Path):
    pinned = _pinned()
    assert pinned["path"] == "data" and pinned["hash"] == "md5"
    manifest = dataset_manifest(generate_demo_dataset(tmp_path / "data"))  # defaults: seed 0, 320/40/40, 128 px
    assert manifest["dvc_md5"] == pinned["md5"]
    assert manifest["nfiles"] == pinned["nfiles"]
    assert manifest["size"] == pinned["size"]
