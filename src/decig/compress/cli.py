"""``decig prune``: Stage II from the command line (hinge plan, optional latency budget, surgery).

The handler raises DecigError subclasses for user mistakes and leaves printing them to the main CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only torch-free names at import time: every `decig` invocation builds this parser, and the
# surgery/budget modules pull in torch (seconds). They are imported inside the handlers.
from decig.compress.hinge import DEFAULT_METHOD, METHODS
from decig.core.errors import PruningError

if TYPE_CHECKING:
    from decig.compress.hinge import HingeSettings
    from decig.compress.prune_run import BudgetRequest

_DATA_FORMATS = ("aligned", "unaligned", "celebamask-hq")


def register_cli(subparsers: Any) -> None:
    """Add the ``prune`` command to an ``argparse`` sub-parsers object."""
    cmd = subparsers.add_parser(
        "prune",
        help="Stage II: prune a generator at its automatic hinges (or a given plan / latency target)",
        description=(
            "Find the hinge of every layer's sorted channel magnitudes, keep the channels above it (guards and "
            "overrides applied), optionally narrow further until a measured latency target is met, and cut the "
            "channels out of the model. Writes plan.json (editable; re-apply with --plan), hinge_plots.png, the "
            "pruned model in model/ and prune_report.json."
        ),
    )
    cmd.add_argument("--model", required=True, type=Path, metavar="DIR", help="saved generator (manifest.json + model.pt)")
    cmd.add_argument("--out", required=True, type=Path, metavar="DIR", help="new or empty output directory")
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--stats", type=Path, metavar="FILE", help="channel_stats.json from Stage I (default: from the weights)")
    source.add_argument("--plan", type=Path, metavar="FILE", help="apply this (edited) plan.json instead of finding hinges")

    hinge = cmd.add_argument_group("hinge and guards (ignored with --plan, whose file holds its settings)")
    hinge.add_argument("--method", choices=METHODS, default=None, help=f"hinge detector (default {DEFAULT_METHOD})")
    hinge.add_argument("--min-keep", type=int, help="keep at least this many channels per layer (default 1)")
    hinge.add_argument("--min-keep-fraction", type=float, help="keep at least this fraction of each layer (default 0)")
    hinge.add_argument("--round-to", type=int, help="round kept widths up to a multiple of this (default 1)")
    hinge.add_argument("--min-contrast", type=float, help="decades between kept and dropped channels for a knee (default 1.0)")
    hinge.add_argument(
        "--override", action="append", default=[], metavar="LAYER=KEEP", help="keep exactly KEEP channels of LAYER (repeatable)"
    )

    budget = cmd.add_argument_group("latency budget (optional)")
    target = budget.add_mutually_exclusive_group()
    target.add_argument("--target-fps", type=float, metavar="N", help="batch-1 frames per second to reach")
    target.add_argument("--target-latency-ms", type=float, metavar="X", help="batch-1 latency to reach, in ms")
    budget.add_argument("--profile", type=Path, metavar="FILE", help="device profile from 'decig profile' (default: profile here, CPU)")
    budget.add_argument("--threads", type=int, default=1, help="CPU threads when profiling here (default 1)")
    budget.add_argument("--max-iterations", type=int, default=None, help="measure-and-correct rounds (default: the budget loop's)")

    zero = cmd.add_argument_group("zero-shot check (optional)")
    zero.add_argument("--data", type=Path, metavar="ROOT", help="dataset root; compares pruned and unpruned outputs on it")
    zero.add_argument("--data-format", choices=_DATA_FORMATS, default="aligned")
    zero.add_argument("--data-split", default="test")
    zero.add_argument("--data-direction", choices=("AtoB", "BtoA"), default="AtoB")
    zero.add_argument("--data-max", type=int, default=8, help="images to compare (default 8)")

    cmd.add_argument("--per-layer-plots", action="store_true", help="also write one PNG per layer into hinge_plots/")
    cmd.set_defaults(func=_cmd_prune)


def _settings(args: argparse.Namespace) -> HingeSettings:
    from decig.compress.hinge import HingeSettings
    from decig.compress.prune_run import parse_overrides

    given = {
        "method": args.method,
        "min_keep": args.min_keep,
        "min_keep_fraction": args.min_keep_fraction,
        "round_to": args.round_to,
        "min_contrast_decades": args.min_contrast,
    }
    chosen = {key: value for key, value in given.items() if value is not None}
    overrides = parse_overrides(args.override)
    if args.plan is not None and (chosen or overrides):
        raise PruningError("--plan fixes every decision; edit the plan file instead of passing hinge options")
    return HingeSettings(**chosen, overrides=overrides)


def _budget(args: argparse.Namespace) -> BudgetRequest | None:
    from decig.compress.budget import BudgetSettings, LatencyTarget
    from decig.compress.prune_run import BudgetRequest

    if args.target_fps is None and args.target_latency_ms is None:
        if args.profile is not None:
            raise PruningError("--profile is only used with --target-fps or --target-latency-ms")
        return None
    spec = {"fps": args.target_fps} if args.target_fps is not None else {"latency_ms": args.target_latency_ms}
    return BudgetRequest(
        target=LatencyTarget.parse(spec),
        profile=args.profile,
        threads=args.threads,
        settings=BudgetSettings() if args.max_iterations is None else BudgetSettings(max_iterations=args.max_iterations),
    )


def _cmd_prune(args: argparse.Namespace) -> int:
    from decig.compress.prune_run import ZeroShotData, run_prune

    settings = _settings(args)
    budget = _budget(args)
    data = None
    if args.data is not None:
        data = ZeroShotData(args.data, args.data_format, args.data_split, args.data_direction, args.data_max)
    report = run_prune(
        args.model,
        args.out,
        settings=settings,
        stats_path=args.stats,
        plan_path=args.plan,
        budget=budget,
        data=data,
        per_layer_plots=args.per_layer_plots,
    )
    _print_report(report, args.out)
    return 0


def _print_report(report: dict[str, Any], out: Path) -> None:
    plan, cost = report["plan"], report["cost"]
    print(f"plan: {report['plan_source']}")
    print(
        f"  {plan['pruned_units']}/{plan['units']} layers pruned, {plan['no_knee_units']} without a clear knee, "
        f"{plan['overridden_units']} overridden; channels {plan['channels_before']} -> {plan['channels_after']}"
    )
    for name, (before, after) in report["widths"].items():
        print(f"  {name:70s} {before:5d} -> {after}")
    print(
        f"params {cost['params_before']:,} -> {cost['params_after']:,} ({cost['params_ratio']:.2f}x fewer); "
        f"true MACs {cost['macs_true_before'] / 1e9:.3f} G -> {cost['macs_true_after'] / 1e9:.3f} G "
        f"({cost['macs_true_ratio']:.2f}x fewer)"
    )
    if "budget" in report:
        budget = report["budget"]
        print(f"latency budget: target {budget['target_ms']:.2f} ms ({budget['target_fps']:.1f} FPS) on {budget['device']}")
        for it in budget["iterations"]:
            print(
                f"  {it['iteration']}. {it['role']:10s} (path point {it['path_point']}): "
                f"predicted {it['predicted_ms']:.2f} ms, measured {it['measured_ms']:.2f} ms"
            )
        print(f"  result: {budget['measured_ms']:.2f} ms measured ({budget['measured_fps']:.1f} FPS), unpruned {budget['unpruned_measured_ms']:.2f} ms")
    if "zero_shot" in report:
        z = report["zero_shot"]
        psnr = "inf" if z["psnr"] == float("inf") else f"{z['psnr']:.2f} dB"
        print(f"zero-shot vs unpruned on {z['images']} images: max |diff| {z['max_abs']:.4f}, mean {z['mean_abs']:.5f}, PSNR {psnr}")
    print(f"wrote {out}/plan.json, {out}/hinge_plots.png, {out}/model/, {out}/prune_report.json")
