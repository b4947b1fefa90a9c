"""``decig train``: run Stage I (GAN + λ·L1 + α·L_PENAL) from a config on a dataset.

The same command runs data-parallel when launched by torchrun::

    torchrun --nproc_per_node=2 -m decig.cli train -c configs/demo.yaml --data data/demo --out runs/s1

Handlers raise DecigError subclasses for user mistakes and leave printing them to the main CLI.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register_cli(subparsers: Any) -> None:
    """Add the ``train`` command to an ``argparse`` sub-parsers object."""
    from decig.cli.common import add_config_args

    cmd = subparsers.add_parser(
        "train",
        help="Stage I: train the generator with the device-weighted channel penalty",
        description=(
            "Train a pix2pix (aligned / mask data) or CycleGAN (unaligned data) generator with the DECIG "
            "Stage I objective. Writes checkpoints/, generator/, channel_stats.json/.png and metrics.json "
            "into --out. Set stage1.penalty.shape=none for the vanilla baseline."
        ),
    )
    add_config_args(cmd)
    cmd.add_argument("--data", required=True, type=Path, help="dataset root (layout per data.format)")
    cmd.add_argument("--out", required=True, type=Path, help="output directory of this run")
    cmd.add_argument(
        "--profile",
        type=Path,
        help="device profile JSON from 'decig profile' (needed when stage1.penalty.factor is 'device')",
    )
    cmd.add_argument(
        "--baseline-stats",
        type=Path,
        help="channel_stats.json of a vanilla run, overlaid dashed in channel_stats.png",
    )
    cmd.add_argument(
        "--resume",
        action="store_true",
        help="continue from --out/checkpoints/latest.pt (bit-identical to an uninterrupted run on CPU)",
    )
    cmd.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from decig.config import load_config
    from decig.train.stage1 import train_stage1

    cfg = load_config(args.config, args.set)
    metrics = train_stage1(
        cfg, args.data, args.out, args.profile, resume=args.resume, baseline_stats=args.baseline_stats
    )
    # The process group is gone after training; torchrun's RANK tells which process reports.
    if metrics.get("finished") and os.environ.get("RANK", "0") == "0":
        shares = ", ".join(f"{k}={v:.1%}" for k, v in metrics.items() if k.startswith("near_zero_share"))
        alpha = metrics.get("alpha")
        alpha_text = f"alpha={alpha:.4g}" if alpha is not None else "alpha=n/a"
        print(
            f"stage I done: {metrics['step']} steps in {metrics['wall_time_s']:.1f}s, {alpha_text}, "
            f"near-zero channels: {shares or 'n/a'}; outputs in {args.out}"
        )
    return 0
