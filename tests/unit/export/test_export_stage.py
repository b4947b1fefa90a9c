"""The export stage: verified files, a run record beside them, and a flat result for metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decig.config import load_config
from decig.core.errors import ExportError
from decig.export.stage import export_stage
from decig.models.builder import build_from_manifest
from decig.models.persistence import CHECKSUM_FILE, save_model
from decig.models.zoo import default_manifest


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    manifest = default_manifest("unet_32", ngf=4)
    return save_model(build_from_manifest(manifest), manifest, tmp_path / "model")


def test_export_stage_writes_onnx_record_and_flat_result(model_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(None, ["model.arch=unet_32", "model.ngf=4"])
    out = tmp_path / "export"
    result = export_stage(cfg, model_dir, out)

    record = json.loads((out / "export.json").read_text())
    assert [e["format"] for e in record["exports"]] == ["onnx"]
    assert result["formats"] == "onnx" and result["export_json"] == str(out / "export.json")
    assert result["onnx_max_abs_diff"] == record["exports"][0]["max_abs_diff"] <= 1e-4
    assert result["onnx_size_bytes"] == (out / "model.onnx").stat().st_size
    run_record = json.loads((out / "run_record.json").read_text())
    assert run_record["stage"] == "export" and run_record["config_hash"] == cfg.config_hash()
    assert run_record["extra"]["weights_sha256"] == (model_dir / CHECKSUM_FILE).read_text().split()[0]
    assert (out / "config.resolved.yaml").is_file()


def test_export_stage_refuses_unknown_format_before_writing(model_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(None, [])
    with pytest.raises(ExportError, match="unknown export format"):
        export_stage(cfg, model_dir, tmp_path / "export", formats=("onnx", "tflite"))
    assert not (tmp_path / "export").exists()
