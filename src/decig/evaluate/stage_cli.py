"""``decig evaluate``: the evaluation stage from the command line (metrics.json + Markdown/HTML report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from decig.core.errors import EvaluationError


def _named_model(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_DIR, got {text!r}")
    return name, path


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from decig import stages
    from decig.config import load_config

    models = dict(args.model)
    if len(models) != len(args.model):
        raise EvaluationError("model names given to --model must be unique")
    if args.baseline not in models:
        raise EvaluationError(f"--baseline {args.baseline!r} is not one of the --model names ({', '.join(models)})")
    cfg = load_config(args.config, args.set)
    result = stages.evaluate(
        cfg, models, args.data, args.out, hinge_plot=args.hinge_plot, baseline=args.baseline,
        teacher=args.teacher if args.teacher in models else None, fid=not args.no_fid,
        backends=tuple(args.backends.split(",")), threads=args.threads, repeats=args.repeats,
    )
    for key in sorted(result):
        print(f"{key}: {result[key]}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    from decig.cli.common import add_config_args

    p = sub.add_parser(
        "evaluate",
        help="evaluate saved models side by side on the test split and write the report",
        description="Quality (PSNR/SSIM, FID/KID offline, fidelity to a teacher), cost (params, true and "
        "convention MACs, size) and interleaved latency (eager, ONNX Runtime) of every model, as ratios to the "
        "baseline; writes metrics.json, report.md and report.html.",
    )
    add_config_args(p)
    p.add_argument("--model", action="append", type=_named_model, required=True, metavar="NAME=DIR",
                   help="a saved model directory under a display name (repeat: vanilla=..., student=...)")
    p.add_argument("--data", required=True, help="dataset root in the config's data.format")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--baseline", default="vanilla", help="model the ratios are relative to (default: vanilla)")
    p.add_argument("--teacher", default="teacher", help="model to measure fidelity against, if present")
    p.add_argument("--hinge-plot", help="hinge_plots.png from the prune stage, to include in the report")
    p.add_argument("--backends", default="eager,onnx", help="comma-separated: eager, onnx")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID")
    p.set_defaults(func=_cmd_evaluate)
