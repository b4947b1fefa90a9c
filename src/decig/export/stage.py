"""The export stage: a saved model directory becomes verified deployable files plus a run record.

Same contract as the functions in :mod:`decig.stages` (validated config + paths in, flat dict out),
so the CLI, ``kfp.local`` and a cluster pod all run it identically. The parity check lives in
:func:`decig.export.bundle.export_saved_model`; this only adds the lineage record and flattens
the per-format facts for metrics logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decig.config import DecigConfig, save_resolved_config
from decig.export.bundle import EXPORT_RECORD_FILE, export_saved_model, parse_formats
from decig.tracking.lineage import build_run_record, write_run_record


def export_stage(cfg: DecigConfig, model_dir: str | Path, out_dir: str | Path, *,
                 formats: Sequence[str] = ("onnx",)) -> dict[str, Any]:
    """Export ``model_dir`` into ``out_dir`` in ``formats``; each file is reloaded and compared first.

    Returns ``{"formats", "export_json", "<fmt>_max_abs_diff", "<fmt>_size_bytes", "<fmt>_sha256"}``.
    """
    formats = parse_formats(formats)  # before any work: a typo fails without a half-written folder
    out = Path(out_dir)
    bundle = export_saved_model(model_dir, out, formats=formats)
    save_resolved_config(cfg, out)
    record = build_run_record(
        stage="export", config=cfg.to_dict(), config_hash=cfg.config_hash(), seed=cfg.seed, data_md5=None,
        inputs={"model_dir": str(model_dir)}, extra={"weights_sha256": bundle.source["weights_sha256"]},
    )
    write_run_record(record, out)
    result: dict[str, Any] = {"formats": ",".join(formats), "export_json": str(out / EXPORT_RECORD_FILE)}
    for rec in bundle.records:
        result[f"{rec.format}_max_abs_diff"] = rec.max_abs_diff
        result[f"{rec.format}_size_bytes"] = rec.size_bytes
        result[f"{rec.format}_sha256"] = rec.sha256
    return result
