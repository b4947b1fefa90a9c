"""``decig export``: a saved model directory becomes verified files plus export.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from decig.core.errors import ExportError
from decig.export.bundle import EXPORT_RECORD_FILE, export_saved_model, parse_formats
from decig.export.cli import register_cli
from decig.models.builder import build_from_manifest
from decig.models.persistence import CHECKSUM_FILE, MANIFEST_FILE, save_model
from decig.models.zoo import default_manifest


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    manifest = default_manifest("unet_32", ngf=4)
    return save_model(build_from_manifest(manifest), manifest, tmp_path / "model")


def test_cli_export_writes_verified_files_and_record(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    out = tmp_path / "exported"
    args = parser.parse_args(["export", str(model_dir), "--out", str(out), "--formats", "pt2,torchscript", "--dynamic-batch"])
    assert args.func(args) == 0
    record = json.loads((out / EXPORT_RECORD_FILE).read_text())
    assert [e["format"] for e in record["exports"]] == ["pt2", "torchscript"]
    assert all(e["max_abs_diff"] <= 1e-4 and e["dynamic_batch"] for e in record["exports"])
    assert record["exports"][0]["opset"] is None  # only ONNX has an opset
    assert record["source"]["weights_sha256"] == (model_dir / CHECKSUM_FILE).read_text().split()[0]
    assert (out / "model.pt2").is_file() and (out / "model.torchscript.pt").is_file()
    assert (out / MANIFEST_FILE).read_text() == (model_dir / MANIFEST_FILE).read_text()
    assert "max abs diff" in capsys.readouterr().out


def test_bad_requests_are_clear_errors(model_dir: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format"):
        parse_formats("onnx,tflite")
    with pytest.raises(ExportError, match="must differ"):
        export_saved_model(model_dir, model_dir, formats=["onnx"])


@pytest.mark.slow
def test_default_formats_onnx_and_pt2(model_dir: Path, tmp_path: Path) -> None:
    bundle = export_saved_model(model_dir, tmp_path / "exported")
    assert [r.format for r in bundle.records] == ["onnx", "pt2"]
    assert bundle.records[0].opset == 20
