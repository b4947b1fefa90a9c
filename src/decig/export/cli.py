"""``decig export``: turn a saved model directory into verified ONNX / .pt2 / TorchScript files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from decig.export.record import DEFAULT_OPSET, DEFAULT_TOLERANCE


def register_cli(subparsers: Any) -> None:
    cmd = subparsers.add_parser(
        "export",
        help="export a saved model to ONNX / .pt2 (TorchScript on request), each checked against PyTorch",
        description="Every exported file is reloaded (ONNX Runtime, torch.export.load, torch.jit.load) and compared "
        "with the PyTorch model on test inputs; a max abs diff above --tolerance fails the export. "
        "Writes export.json with opset, diffs and sha256 of every file.",
    )
    cmd.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="saved model directory (manifest.json + model.pt)")
    cmd.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    cmd.add_argument("--formats", default="onnx,pt2", help="comma-separated: onnx, pt2, torchscript (default: onnx,pt2)")
    cmd.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    cmd.add_argument("--dynamic-batch", action="store_true", help="free batch axis (spatial size stays fixed)")
    cmd.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help=f"max abs diff allowed (default {DEFAULT_TOLERANCE:g})"
    )
    cmd.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from decig.export.bundle import export_saved_model, parse_formats

    bundle = export_saved_model(
        args.model_dir,
        args.out,
        formats=parse_formats(args.formats),
        opset=args.opset,
        dynamic_batch=args.dynamic_batch,
        tolerance=args.tolerance,
    )
    for record in bundle.records:
        opset = f" opset {record.opset}" if record.opset is not None else ""
        size_mb = record.size_bytes / 1e6
        print(f"{record.format:<12}{record.path}{opset}  max abs diff {record.max_abs_diff:.2e}  ({size_mb:.1f} MB)")
    print(f"wrote {bundle.directory / 'export.json'}", file=sys.stderr)
    return 0
