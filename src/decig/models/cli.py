"""``decig models ...``: list architectures, show their cost, import reference checkpoints.

:func:`register_cli` adds the command group to the main parser; each subcommand stores its
handler as ``func`` (``args.func(args)`` returns the exit status). Handlers raise DecigError
subclasses for user mistakes and leave printing them to the main CLI.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from decig.models.norms import NORMS

if TYPE_CHECKING:  # torch-heavy; imported by the handlers so building the parser stays fast
    from decig.models.cost import CostReport

_CONVENTION_NOTE = "transposed convs charged at output resolution, as thop/torchprofile and most papers count"


def register_cli(subparsers: Any) -> None:
    """Add the ``models`` group to an ``argparse`` sub-parsers object."""
    group = subparsers.add_parser("models", help="list, inspect and import model architectures")
    commands = group.add_subparsers(dest="models_command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("list", help="registered architectures")
    cmd.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'unet_*'")
    cmd.set_defaults(func=_cmd_list)

    cmd = commands.add_parser("info", help="parameters and MACs of an architecture (true and convention)")
    cmd.add_argument("arch", help="registered name (see 'decig models list')")
    _add_arch_options(cmd)
    cmd.add_argument("--input-size", type=int, help="square input side in pixels (default: the architecture's)")
    cmd.add_argument("--per-layer", action="store_true", help="also print one row per conv layer")
    cmd.set_defaults(func=_cmd_info)

    cmd = commands.add_parser("import", help="import a pix2pix/CycleGAN reference checkpoint (.pth)")
    cmd.add_argument("checkpoint", help="state-dict file, e.g. latest_net_G.pth")
    cmd.add_argument("--arch", required=True, help="registered name the checkpoint was trained as")
    _add_arch_options(cmd)
    cmd.add_argument("--out", required=True, help="directory to write manifest.json and model.pt into")
    cmd.set_defaults(func=_cmd_import)


def _add_arch_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--ngf", type=int, help="base width (ndf for a discriminator); default 64")
    cmd.add_argument(
        "--norm", choices=NORMS, help="default: the architecture's (batch for U-Nets, instance for ResNets)"
    )
    # Dropout matters for ResNet checkpoints: it shifts the second conv's index in every block.
    cmd.add_argument("--dropout", action=argparse.BooleanOptionalAction, default=None, help="dropout layers present")


def _arch_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"ngf": args.ngf, "norm": args.norm, "use_dropout": args.dropout}


def _giga(macs: int) -> str:
    return f"{macs / 1e9:.2f} G"


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f} M"


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _cmd_list(args: argparse.Namespace) -> int:
    rows = []
    from decig.models.zoo import list_models, model_info

    for name in list_models(args.pattern):
        info = model_info(name)
        params = f"{info.known_params:,}" if info.known_params is not None else "-"
        rows.append([name, info.family, f"{info.input_size[0]}x{info.input_size[1]}", params, info.description])
    _print_table(["name", "family", "input", "params (default)", "description"], rows)
    return 0


def _print_cost(report: CostReport, per_layer: bool) -> None:
    print(f"parameters:        {report.params_total:,} ({_millions(report.params_total)})")
    print(f"MACs (true):       {_giga(report.macs_true_total)}  (measured with torch FlopCounterMode, FLOPs/2)")
    print(f"MACs (convention): {_giga(report.macs_convention_total)}  ({_CONVENTION_NOTE})")
    if not per_layer:
        return
    print()
    rows = [
        [
            row.name,
            row.type,
            f"{row.in_channels}->{row.out_channels}",
            "x".join(map(str, row.output_shape)),
            f"{row.params:,}",
            f"{row.macs_true / 1e6:,.1f}",
            f"{row.macs_convention / 1e6:,.1f}",
            "yes" if row.prunable else "no (output)",
        ]
        for row in report.layers
    ]
    _print_table(["layer", "type", "channels", "output CxHxW", "params", "true MMACs", "conv. MMACs", "prunable"], rows)


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from decig.models.builder import build_from_manifest
    from decig.models.cost import count_cost
    from decig.models.zoo import default_manifest

    manifest = default_manifest(args.arch, input_size=args.input_size, **_arch_overrides(args))
    # Built on the meta device: counting needs shapes only, and a 54 M-parameter init takes time.
    with torch.device("meta"):
        model = build_from_manifest(manifest)
    report = count_cost(model, manifest.input_size, manifest.input_nc)
    size = manifest.input_size
    print(
        f"{args.arch}: {manifest.family}, ngf={manifest.ngf}, norm={manifest.norm}, "
        f"dropout={'on' if manifest.use_dropout else 'off'}, input {manifest.input_nc}x{size[0]}x{size[1]}, "
        f"{len(report.layers)} conv layers"
    )
    _print_cost(report, args.per_layer)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from decig.models.checkpoint_import import import_reference_checkpoint
    from decig.models.persistence import CHECKSUM_FILE, MANIFEST_FILE, WEIGHTS_FILE, save_model, sha256_file

    model, manifest = import_reference_checkpoint(args.checkpoint, args.arch, **_arch_overrides(args))
    out = save_model(model, manifest, args.out)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"imported {args.checkpoint} as {args.arch} (ngf={manifest.ngf}, norm={manifest.norm}): {params:,} parameters"
    )
    print(f"wrote {out / MANIFEST_FILE}, {out / WEIGHTS_FILE}, {out / CHECKSUM_FILE}")
    print(f"sha256 {sha256_file(out / WEIGHTS_FILE)}")
    return 0
