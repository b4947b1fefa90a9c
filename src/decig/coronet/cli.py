"""``decig coronet train``: compress a generator with CoroNetGAN (hypernetworks + proximal L1).

    decig coronet train -c configs/demo.yaml --data data --out runs/coronet \\
        --set coronet.target_ratio=0.3 --set coronet.steps=400

Handlers raise DecigError subclasses for user mistakes and leave printing them to the main CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register_cli(subparsers: Any) -> None:
    """Add the ``coronet`` command group to an ``argparse`` sub-parsers object."""
    from decig.cli.common import add_config_args

    group = subparsers.add_parser(
        "coronet",
        help="CoroNetGAN: the second compression method (hypernetwork-based controllable pruning)",
        description=(
            "CoroNetGAN compresses a generator while training it: every conv layer's weights are emitted by a "
            "hypernetwork from a per-layer latent vector, and a proximal L1 step on the latents removes output "
            "channels until the cost reaches coronet.target_ratio of the full generator. No teacher is needed."
        ),
    )
    sub = group.add_subparsers(dest="coronet_command", metavar="COMMAND", required=True)
    cmd = sub.add_parser(
        "train",
        help="train with sparsification and write the compact generator",
        description=(
            "Train pix2pix (aligned / mask data) or CycleGAN (unaligned data) with CoroNet generators, sparsify "
            "to coronet.target_ratio (of params, true MACs, or the device profile's latency: coronet.target_kind), "
            "then write the compact generator as model/ (manifest.json + model.pt, CycleGAN: also model_B/), "
            "metrics.json, checkpoints/, config.resolved.yaml and run_record.json into --out. The GAN recipe "
            "(batch size, losses, beta1) comes from the stage1 section, CoroNet's own settings from coronet."
        ),
    )
    add_config_args(cmd)
    cmd.add_argument("--data", required=True, type=Path, help="dataset root (layout per data.format)")
    cmd.add_argument("--out", required=True, type=Path, help="output directory of this run (must be new unless --resume)")
    cmd.add_argument(
        "--profile", type=Path, help="device profile JSON from 'decig profile' (needed when coronet.target_kind is latency)"
    )
    cmd.add_argument("--resume", action="store_true", help="continue from --out/checkpoints/latest.pt")
    cmd.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from decig.config import load_config
    from decig.coronet.stage import coronet_stage

    cfg = load_config(args.config, args.set)
    m = coronet_stage(cfg, args.data, args.profile, args.out, resume=args.resume)
    prefix = "G_A/" if "G_A/params" in m else ""
    print(
        f"coronet done: {m['step']} steps in {m['wall_time_s']:.1f}s; params {m[prefix + 'params']:,} of "
        f"{m[prefix + 'params_full']:,} ({m[prefix + 'ratio_params']:.1%}), true MACs {m[prefix + 'ratio_macs']:.1%} "
        f"(target {m['target_ratio']:.0%} of {m['target_kind']}); compact generator in {args.out / 'model'}"
    )
    return 0
