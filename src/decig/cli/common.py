"""Options and helpers every command group shares (so no group imports from another, or from main)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "configs/demo.yaml"


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The two options every config-driven command shares."""
    p.add_argument("-c", "--config", help="YAML config file (defaults apply for anything omitted)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set stage1.steps=2000 --set devices=[cpu,mac] (repeatable)",
    )


def load_cli_config(args: argparse.Namespace, *, default: str | None = None) -> Any:
    """The validated config of ``-c/--set``; ``default`` is used when no -c is given and the file exists."""
    from decig.config import load_config

    config = args.config or (default if default and Path(default).is_file() else None)
    return load_config(config, args.set)


def add_force_arg(p: argparse.ArgumentParser, what: str = "the output folder") -> None:
    p.add_argument("--force", action="store_true", help=f"replace {what} when it already holds files")
