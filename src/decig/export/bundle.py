"""Export a saved decig model directory into a deployable, self-describing folder.

Output folder::

    model.onnx / model.pt2 / model.torchscript.pt   the requested formats
    manifest.json                                   copy of the source architecture manifest
    export.json                                     source weights sha256 + one ExportRecord per format

``export.json`` is written last, so its presence means every listed file passed its parity check.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decig.core.errors import ExportError
from decig.export.onnx_export import export_onnx
from decig.export.pt2_export import export_pt2
from decig.export.record import DEFAULT_OPSET, DEFAULT_TOLERANCE, ExportRecord
from decig.export.torchscript_export import export_torchscript

FORMATS = ("onnx", "pt2", "torchscript")
FILE_NAMES = {"onnx": "model.onnx", "pt2": "model.pt2", "torchscript": "model.torchscript.pt"}
EXPORT_RECORD_FILE = "export.json"


@dataclass(frozen=True)
class ExportBundle:
    directory: Path
    source: dict[str, Any]
    records: tuple[ExportRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "exports": [record.to_dict() for record in self.records]}


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"onnx,pt2"`` or a sequence -> validated, de-duplicated tuple in the given order."""
    items = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    unknown = [item for item in items if item not in FORMATS]
    if unknown or not items:
        raise ExportError(f"unknown export format(s) {unknown or items!r}; choose from {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


def export_saved_model(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("onnx", "pt2"),
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportBundle:
    """Load ``model_dir`` (written by ``decig.models.persistence.save_model``) and export it into ``out_dir``."""
    from decig.models.persistence import CHECKSUM_FILE, MANIFEST_FILE, load_model

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    formats = parse_formats(formats)
    if out_dir.resolve() == model_dir.resolve():
        raise ExportError("--out must differ from the model directory (its manifest.json would be overwritten)")
    model, manifest = load_model(model_dir)
    model.eval()
    example_shape = (1, manifest.input_nc, *manifest.input_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / EXPORT_RECORD_FILE).unlink(missing_ok=True)  # absent until every format has passed

    records: list[ExportRecord] = []
    for fmt in formats:
        target = out_dir / FILE_NAMES[fmt]
        if fmt == "onnx":
            record = export_onnx(model, example_shape, target, opset=opset, dynamic_batch=dynamic_batch, tolerance=tolerance)
        elif fmt == "pt2":
            record = export_pt2(model, example_shape, target, dynamic_batch=dynamic_batch, tolerance=tolerance)
        else:
            record = export_torchscript(model, example_shape, target, dynamic_batch=dynamic_batch, tolerance=tolerance)
        records.append(record)

    shutil.copyfile(model_dir / MANIFEST_FILE, out_dir / MANIFEST_FILE)
    checksum = (model_dir / CHECKSUM_FILE).read_text().split()[0]
    source = {"model_dir": str(model_dir), "weights_sha256": checksum, "manifest": manifest.to_dict()}
    bundle = ExportBundle(out_dir, source, tuple(records))
    tmp = out_dir / (EXPORT_RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps(bundle.to_dict(), indent=2) + "\n")
    tmp.replace(out_dir / EXPORT_RECORD_FILE)
    return bundle
