"""``decig finetune``: Stage II student-teacher fine-tuning of a pruned generator (paired data).

    decig finetune -c configs/demo.yaml --student runs/prune/model --teacher runs/s1/generator \\
        --data data/demo --out runs/ft

Runs data-parallel under torchrun like ``decig train``. Handlers raise DecigError subclasses for
user mistakes and leave printing them to the main CLI.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register_cli(subparsers: Any) -> None:
    """Add the ``finetune`` command to an ``argparse`` sub-parsers object."""
    from decig.cli.common import add_config_args

    cmd = subparsers.add_parser(
        "finetune",
        help="Stage II: fine-tune the pruned generator against the Stage-I teacher",
        description=(
            "Train the pruned student (decig prune's model/) with lambda_gan*GAN + lambda_l1*L1(student, ground truth) "
            "+ lambda_distill*L1(student, teacher), the Stage-I generator as frozen teacher (settings: finetune.*). "
            "Writes checkpoints/, generator/, discriminator/ and metrics.json into --out."
        ),
    )
    add_config_args(cmd)
    cmd.add_argument("--student", required=True, type=Path, help="pruned generator directory (PRUNE_DIR/model)")
    cmd.add_argument("--teacher", required=True, type=Path, help="Stage-I generator directory (STAGE1_DIR/generator)")
    cmd.add_argument("--data", required=True, type=Path, help="dataset root (layout per data.format; paired only)")
    cmd.add_argument("--out", required=True, type=Path, help="output directory of this run")
    cmd.add_argument(
        "--discriminator",
        type=Path,
        help="discriminator directory to start from (default: the teacher's sibling discriminator/ when "
        "finetune.discriminator is 'stage1', else a fresh PatchGAN)",
    )
    cmd.add_argument("--resume", action="store_true", help="continue from --out/checkpoints/latest.pt")
    cmd.set_defaults(func=_cmd_finetune)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from decig.config import load_config
    from decig.train.finetune import finetune_student

    cfg = load_config(args.config, args.set)
    metrics = finetune_student(
        cfg, args.student, args.teacher, args.data, args.out, discriminator_dir=args.discriminator, resume=args.resume
    )
    if metrics.get("finished") and os.environ.get("RANK", "0") == "0":
        l1 = metrics.get("l1_to_teacher")
        l1_text = f"L1 to teacher {l1:.4g}" if l1 is not None else "L1 to teacher n/a"
        print(
            f"fine-tuning done: {metrics['step']} steps in {metrics['wall_time_s']:.1f}s, {l1_text}; "
            f"student {metrics['student_params']} params (teacher {metrics['teacher_params']}); outputs in {args.out}"
        )
    return 0
