"""Latency benchmark: vanilla pix2pix unet_128 (ngf 64) vs a compressed unet_128, eager and ONNX Runtime.

All models and backends are timed interleaved in this one process (see decig.evaluate.latency)
and reported as ratios to the vanilla model in eager PyTorch, next to the MAC reduction.

Until Stage II produces a real pruned model, the compressed model is the vanilla manifest with
every layer's width scaled by ``--width-factor`` (the output layer keeps its 3 channels). Pass
``--compressed DIR`` (a saved decig model directory) to time a real pruned model instead.

Targets for the pruned model: >= 6x (eager) and >= 12x (ORT) against vanilla eager, and measured
same-backend speedup >= 0.8 x the MAC reduction.

    python benchmarks/bench_latency.py --threads 1 --repeats 30 --out runs/bench/latency.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from decig.evaluate.benchmark import NamedModel, benchmark, format_table, write_json
from decig.evaluate.latency import parse_backends
from decig.core.log import setup_logging
from decig.models.builder import build_from_manifest
from decig.models.manifest import ArchManifest
from decig.models.zoo import default_manifest

TARGETS = {"eager_speedup": 6.0, "onnx_speedup": 12.0, "speedup_over_mac_reduction": 0.8}


def scaled_manifest(base: ArchManifest, factor: float) -> ArchManifest:
    """``base`` with every prunable layer's width times ``factor`` (at least 1 channel)."""
    widths = {name: max(1, round(width * factor)) for name, width in base.widths.items() if name != base.final_layer}
    return base.with_widths(widths)


def check_targets(result: dict, compressed: str) -> dict:
    """The Stage-II goals next to what this run measured (informational for the stand-in model)."""
    timings = {(t["model"], t["backend"]): t for t in result["timings"]}
    measured = {}
    if (compressed, "eager") in timings:
        measured["eager_speedup"] = timings[(compressed, "eager")]["speedup_vs_baseline"]
    if (compressed, "onnx") in timings:
        measured["onnx_speedup"] = timings[(compressed, "onnx")]["speedup_vs_baseline"]
    # The weakest backend decides: the saving must show up on every runtime.
    ratios = [t["speedup_over_mac_reduction"] for (model, _), t in timings.items() if model == compressed]
    measured["speedup_over_mac_reduction"] = min(ratios)
    return {
        key: {"goal": goal, "measured": measured.get(key), "met": measured.get(key) is not None and measured[key] >= goal}
        for key, goal in TARGETS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads for torch and ORT (1: most stable on a shared machine)"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed interleaved rounds")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    parser.add_argument("--width-factor", type=float, default=0.3, help="width scale of the stand-in compressed model")
    parser.add_argument("--compressed", type=Path, help="saved decig model dir to use as the compressed model instead")
    parser.add_argument("--backends", default="eager,onnx")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency.json"))
    args = parser.parse_args(argv)
    setup_logging(0)

    base = default_manifest("unet_128")  # ngf 64, 41.8 M params
    models = [NamedModel("vanilla_unet_128", build_from_manifest(base), base, "registry:unet_128")]
    if args.compressed is not None:
        from decig.models.persistence import load_model

        model, manifest = load_model(args.compressed)
        models.append(NamedModel("compressed", model, manifest, str(args.compressed)))
    else:
        manifest = scaled_manifest(base, args.width_factor)
        name = f"width_x{args.width_factor:g}"
        models.append(NamedModel(name, build_from_manifest(manifest), manifest, f"registry:unet_128 widths x{args.width_factor:g}"))

    result = benchmark(
        models,
        baseline="vanilla_unet_128",
        backends=parse_backends(args.backends),
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
    )
    result["targets"] = check_targets(result, compressed=models[1].name)
    write_json(result, args.out)
    print(format_table(result))
    for key, target in result["targets"].items():
        measured = "n/a" if target["measured"] is None else f"{target['measured']:.2f}"
        print(f"target {key}: goal >= {target['goal']}, measured {measured} -> {'met' if target['met'] else 'NOT met'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
