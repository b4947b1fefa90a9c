"""``decig`` command line: one entry point, one sub-command group per job.

Each group lives beside the code it drives (``decig/<area>/cli.py``) and registers itself here,
so this file only assembles the parser and turns user errors into one clear line (exit 2)
instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from decig import __version__
from decig.core.errors import DecigError
from decig.core.log import get_logger, setup_logging
from decig.cli.common import add_config_args

log = get_logger("decig")

DESCRIPTION = """\
decig compresses conditional image generators (pix2pix U-Nets, CycleGAN ResNets) for a target
device: Stage I trains with a device-weighted channel penalty, Stage II prunes every layer at its
automatically found hinge and fine-tunes the pruned student against the Stage-I teacher.

Typical flow on your own data:
  decig data check aligned path/to/facades --divisible-by 256
  decig models info unet_256 --per-layer
  decig profile --arch unet_128 --device cpu --out profile.json
  decig config show -c configs/demo.yaml --set stage1.steps=2000

Run `decig COMMAND --help` for the options of each command.
"""


def _cmd_config_show(args: argparse.Namespace) -> int:
    import yaml

    from decig.config import load_config

    cfg = load_config(args.config, args.set)
    sys.stdout.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    print(f"# config hash: {cfg.config_hash()}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from decig.config import load_config
    from decig.demo_run import run_demo

    config = args.config or ("configs/demo.yaml" if Path("configs/demo.yaml").is_file() else None)
    cfg = load_config(config, args.set)
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    s = run_demo(cfg, out, fid=not args.no_fid)
    print(f"\ndecig demo finished in {s['wall_time_s'] / 60:.1f} min; outputs in {s['outputs']}")
    print(f"{'model':<10}{'params':>12}{'PSNR dB':>9}{'FID':>8}{'eager ms':>10}{'speedup':>9}{'ORT speedup':>13}")
    for name, m in s["models"].items():
        lat = m.get("latency") or {}
        fid = (m.get("fid") or {}).get("fid")
        eager, ort = lat.get("eager", {}), lat.get("onnx", {})
        print(f"{name:<10}{m['cost']['params']:>12,}{float(m['quality']['psnr_db']):>9.2f}"
              f"{(f'{fid:.1f}' if fid is not None else '-'):>8}{eager.get('median_ms', float('nan')):>10.1f}"
              f"{eager.get('speedup_vs_baseline', float('nan')):>8.2f}x{ort.get('speedup_vs_baseline', float('nan')):>12.2f}x")
    print(f"data md5 {s['data_md5']}; report: {s['report']}")
    return 0


def _register_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the DECIG stages end to end on the built-in demo data (what `make run` does)",
        description="prepare data -> profile the device -> Stage I (vanilla and DECIG) -> prune at the "
        "automatic hinges -> compare vanilla vs pruned (params, PSNR, interleaved CPU latency).",
    )
    add_config_args(p)
    p.add_argument("--out", help="output directory (default: runs/demo-<timestamp>)")
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID (Inception on CPU is the slowest part)")
    p.set_defaults(func=_cmd_demo)


def _register_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="validate and print a resolved config",
        description="Load a YAML config, apply --set overrides, validate against the schema, print the result.",
    )
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="{show}")
    show = csub.add_parser("show", help="print the resolved, validated config and its hash")
    add_config_args(show)
    show.set_defaults(func=_cmd_config_show)


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    from decig.compress.cli import register_cli as compress_cli
    from decig.coronet.cli import register_cli as coronet_cli
    from decig.data.cli import register_cli as data_cli
    from decig.devices.cli import register_cli as device_cli
    from decig.evaluate.cli import register_cli as evaluate_cli
    from decig.evaluate.stage_cli import register_cli as evaluate_stage_cli
    from decig.export.cli import register_cli as export_cli
    from decig.kubeflow.cli import register_cli as kfp_cli
    from decig.models.cli import register_cli as models_cli
    from decig.train.cli import register_cli as train_cli
    from decig.train.finetune_cli import register_cli as finetune_cli
    from decig.tracking.cli import register_cli as tracking_cli

    return [_register_demo, data_cli, models_cli, device_cli, train_cli, compress_cli, finetune_cli, coronet_cli, evaluate_stage_cli, evaluate_cli, export_cli,
            tracking_cli, kfp_cli, _register_config]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="decig", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"decig {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    try:
        return int(args.func(args) or 0)
    except DecigError as err:
        # User errors: one readable message, no traceback, distinct exit status.
        print(f"decig: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("decig: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
