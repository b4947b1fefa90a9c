"""``decig profile``: measure an architecture's per-layer cost on a device and write the l(i) profile.

The handler raises DecigError subclasses for user mistakes (unknown device, no GPU, bad
architecture) and leaves printing them to the main CLI.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from decig.devices.spec import VALID_NAMES, resolve_device
from decig.models.norms import NORMS

if TYPE_CHECKING:  # profiling modules import torch; the handler loads them (fast `decig --help`)
    from decig.devices.profile import DeviceProfile


def register_cli(subparsers: Any) -> None:
    """Add the ``profile`` command to an ``argparse`` sub-parsers object."""
    cmd = subparsers.add_parser(
        "profile",
        help="measure per-layer cost on a device -> l(i) factors (JSON)",
        description=(
            "Time every prunable layer of an architecture at its real input shape (cpu, cuda) or count its "
            "true MACs (mac), and normalise the costs to factors l(i) with mean 1 for the Stage I penalty."
        ),
    )
    cmd.add_argument("--arch", required=True, help="registered architecture (see 'decig models list')")
    cmd.add_argument("--ngf", type=int, help="base width; default 64")
    cmd.add_argument("--norm", choices=NORMS, help="default: the architecture's")
    cmd.add_argument("--input-size", type=int, help="square input side in pixels (default: the architecture's)")
    cmd.add_argument("--device", required=True, help=f"target: {VALID_NAMES}")
    cmd.add_argument("--threads", type=int, default=1, help="CPU intra-op threads while timing (default 1)")
    cmd.add_argument("--warmup", type=int, default=3, help="untimed calls per layer before timing (default 3)")
    cmd.add_argument("--repeats", type=int, default=20, help="timed calls per layer; the median is kept (default 20)")
    cmd.add_argument("--out", help="write the profile JSON here (default: print only)")
    cmd.set_defaults(func=_cmd_profile)


def _print_profile(profile: DeviceProfile) -> None:
    unit = profile.unit
    header = ["layer", "type", "input", f"raw ({unit})", "l(i)"]
    rows = [
        [
            r.name,
            r.type,
            "x".join(map(str, r.input_shape[1:])),
            f"{r.raw:.4f}" if unit == "ms" else f"{r.raw / 1e6:,.1f} M",
            f"{r.factor:.3f}",
        ]
        for r in profile.layers
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _cmd_profile(args: argparse.Namespace) -> int:
    from decig.devices.profile import profile_model, save_profile
    from decig.models.cost import prunable_layers
    from decig.models.zoo import create_model, default_manifest

    spec = resolve_device(args.device)  # fail on a bad device before building a large model
    manifest = default_manifest(args.arch, ngf=args.ngf, norm=args.norm, input_size=args.input_size)
    model = create_model(args.arch, ngf=args.ngf, norm=args.norm, input_size=args.input_size)
    shape = (1, manifest.input_nc, *manifest.input_size)
    profile = profile_model(
        model,
        shape,
        spec,
        prunable_layers(model),
        warmup=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        arch={"name": args.arch, **manifest.to_dict()},
    )
    where = profile.facts["cpu_model"] if spec.kind == "cpu" else profile.facts["cuda_device"] or spec.kind
    threads = f", {profile.facts['threads']} thread(s)" if spec.is_timed else ""
    print(f"{args.arch} on {profile.device} ({where}{threads}), input {'x'.join(map(str, shape))}")
    _print_profile(profile)
    if args.out:
        out = save_profile(profile, args.out)
        print(f"wrote {out} (sha256 {profile.content_hash()[:16]}…)")
    return 0
