"""Stage II on a synthetically condensed unet_128 (ngf 64): hinge plan, surgery, cost and zero-shot numbers.

Stand-in for a Stage-I model until one is trained: every prunable layer's weights are the fresh
initialisation with ``--dead-fraction`` of its output channels scaled by ``--scale``
(:func:`tests/support/synthetic.py`). For each hinge method the run reports the plan,
parameter and true-MAC ratios (and the convention MACs papers quote), the zero-shot difference to
the unpruned model on random inputs, and eager batch-1 latency of both models timed interleaved.

    python benchmarks/bench_prune_condensed.py --threads 1 --out benchmarks/results/prune_condensed_unet128.json

Note: with fresh BatchNorm statistics (mean 0, var 1) a scaled channel really is 1000x weaker after
the norm. In a trained BatchNorm network the running variance shrinks with the weights and the norm
re-amplifies the channel, so real zero-shot differences are larger (see the report / README).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from decig.compress.hinge import METHODS, HingeSettings
from decig.compress.hinge_plots import plot_plan
from decig.compress.plan import make_plan
from decig.compress.stats import channel_stats_from_model
from decig.compress.surgery import prune_generator
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic condensing helper lives with the tests
from support.synthetic import condense_weights  # noqa: E402
from decig.compress.zero_shot import zero_shot_difference
from decig.evaluate.latency import Candidate, measure_latency
from decig.core.log import setup_logging
from decig.models import build_from_manifest, count_cost, default_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--dead-fraction", type=float, default=0.75)
    parser.add_argument("--scale", type=float, default=1e-3)
    parser.add_argument("--images", type=int, default=8, help="random inputs for the zero-shot check")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/prune_condensed.json"))
    args = parser.parse_args(argv)
    setup_logging(0)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    manifest = default_manifest("unet_128", ngf=args.ngf)
    teacher = build_from_manifest(manifest).eval()
    condense_weights(teacher, manifest, dead_fraction=args.dead_fraction, scale=args.scale, seed=0)
    stats = channel_stats_from_model(teacher)
    inputs = torch.rand(args.images, 3, *manifest.input_size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    full = count_cost(teacher, manifest.input_size)
    result: dict = {"arch": "unet_128", "ngf": args.ngf, "dead_fraction": args.dead_fraction, "scale": args.scale}
    students = {}
    for method in METHODS:
        plan = make_plan(stats, manifest, HingeSettings(method=method))
        student, student_manifest = prune_generator(teacher, manifest, plan)
        cost = count_cost(student, manifest.input_size)
        result[method] = {
            "plan": plan.summary(),
            "widths": {name: [manifest.widths[name], w] for name, w in student_manifest.widths.items()},
            "params": [full.params_total, cost.params_total, full.params_total / cost.params_total],
            "macs_true": [full.macs_true_total, cost.macs_true_total, full.macs_true_total / cost.macs_true_total],
            "macs_convention": [full.macs_convention_total, cost.macs_convention_total],
            "zero_shot": zero_shot_difference(teacher, student, inputs),
        }
        students[method] = student
        plot_plan(plan, args.out.with_name(f"{args.out.stem}_{method}_hinges.png"))
    timing = measure_latency(
        [Candidate("teacher", teacher, (1, 3, *manifest.input_size)), Candidate("student", students["kneedle"], (1, 3, *manifest.input_size))],
        baseline="teacher",
        backends=["eager"],
        threads=args.threads,
        repeats=args.repeats,
    )
    result["latency_eager"] = {
        t.model: {"median_ms": t.median_ms, "speedup": t.speedup_vs_baseline} for t in timing.timings
    } | {"threads": args.threads, "load_average_before": timing.settings["load_average_before"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for method in METHODS:
        r = result[method]
        print(
            f"{method}: params {r['params'][0]:,} -> {r['params'][1]:,} ({r['params'][2]:.2f}x), "
            f"true MACs {r['macs_true'][0] / 1e9:.3f} G -> {r['macs_true'][1] / 1e9:.3f} G ({r['macs_true'][2]:.2f}x), "
            f"zero-shot max {r['zero_shot']['max_abs']:.2e} PSNR {r['zero_shot']['psnr']:.1f} dB"
        )
    lat = result["latency_eager"]
    print(f"eager latency ({args.threads} thread): {lat['teacher']['median_ms']:.1f} ms -> {lat['student']['median_ms']:.1f} ms ({lat['student']['speedup']:.1f}x)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
