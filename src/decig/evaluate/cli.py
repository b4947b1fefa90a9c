"""``decig bench``, ``decig evaluate-fid`` and ``decig cost``: measure saved models and image sets.

:func:`register_cli` adds the commands; handlers ``_cmd_*`` return the exit status and raise
DecigError subclasses for user mistakes (printed by the main CLI without a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from decig.core.errors import EvaluationError


def register_cli(subparsers: Any) -> None:
    cmd = subparsers.add_parser(
        "bench",
        help="interleaved batch-1 latency of saved models (eager / ONNX Runtime), as ratios to a baseline",
        description="Times every model on every backend round-robin in one process, so machine noise hits all "
        "of them alike, and reports median/p90/FPS plus speedups against the baseline model in eager PyTorch.",
    )
    cmd.add_argument(
        "--models", nargs="+", required=True, type=Path, metavar="DIR", help="saved model directories; names are the directory names"
    )
    cmd.add_argument("--baseline", required=True, help="name (directory name) of the baseline model")
    cmd.add_argument("--backends", default="eager,onnx", help="comma-separated: eager, onnx (default: both)")
    cmd.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    cmd.add_argument(
        "--threads", type=int, default=1, help="intra-op threads for torch and ORT (default 1: stable on shared machines)"
    )
    cmd.add_argument("--repeats", type=int, default=30, help="timed interleaved rounds (default 30)")
    cmd.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    cmd.add_argument("--out", type=Path, help="write the full result as JSON here")
    cmd.set_defaults(func=_cmd_bench)

    cmd = subparsers.add_parser(
        "evaluate-fid",
        help="FID and KID between two image folders (offline standard Inception weights)",
        description="torch-fidelity's TF-exact Inception with the offline FID weights; no network access. "
        "With --real-key the real folder's features are cached, so later runs embed only the fake images.",
    )
    cmd.add_argument("--real", required=True, type=Path, metavar="DIR", help="folder of real images")
    cmd.add_argument("--fake", required=True, type=Path, metavar="DIR", help="folder of generated images")
    cmd.add_argument("--real-key", help="cache key of the real set, e.g. facades/val@<dataset manifest hash>")
    cmd.add_argument("--device", default="cpu")
    cmd.add_argument("--batch-size", type=int, default=16)
    cmd.add_argument("--no-kid", action="store_true", help="skip KID")
    cmd.add_argument("--out", type=Path, help="write result and protocol as JSON here")
    cmd.set_defaults(func=_cmd_evaluate_fid)

    cmd = subparsers.add_parser("cost", help="params, MACs, weights size and peak inference memory of a saved model")
    cmd.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    cmd.add_argument("--memory", action="store_true", help="also measure peak memory of one inference (a few seconds)")
    cmd.add_argument("--device", default="cpu")
    cmd.add_argument("--threads", type=int, default=1)
    cmd.set_defaults(func=_cmd_cost)


def _write_json(result: dict[str, Any], out: Path | None) -> None:
    from decig.evaluate.benchmark import write_json

    if out is not None:
        write_json(result, out)
        print(f"wrote {out}", file=sys.stderr)


def _cmd_bench(args: argparse.Namespace) -> int:
    from decig.evaluate.benchmark import NamedModel, benchmark, format_table
    from decig.evaluate.latency import parse_backends
    from decig.models.persistence import load_model

    names = [path.resolve().name for path in args.models]
    if len(set(names)) != len(names):
        raise EvaluationError(f"model directory names must be unique (they name the models): {names}")
    models = []
    for name, path in zip(names, args.models):
        model, manifest = load_model(path)
        models.append(NamedModel(name, model, manifest, str(path)))
    result = benchmark(
        models,
        baseline=args.baseline,
        backends=parse_backends(args.backends),
        device=args.device,
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
    )
    print(format_table(result))
    _write_json(result, args.out)
    return 0


def _cmd_evaluate_fid(args: argparse.Namespace) -> int:
    from decig.evaluate.fid import fid_between_folders

    result = fid_between_folders(
        args.real, args.fake, real_key=args.real_key, device=args.device, batch_size=args.batch_size, kid=not args.no_kid
    )
    line = f"FID {result.fid:.4f}"
    if result.kid_mean is not None:
        line += f"  KID {result.kid_mean:.5f} ± {result.kid_std:.5f}"
    print(line + f"  (real {result.protocol['real_count']}, fake {result.protocol['fake_count']} images)")
    _write_json(result.to_dict(), args.out)
    return 0


def _cmd_cost(args: argparse.Namespace) -> int:
    from decig.evaluate.cost_metrics import model_cost
    from decig.models.persistence import load_model

    model, manifest = load_model(args.model_dir)
    cost = model_cost(model, manifest, measure_memory=args.memory, device=args.device, threads=args.threads)
    json.dump(cost.to_dict(), sys.stdout, indent=2)
    print()
    return 0
