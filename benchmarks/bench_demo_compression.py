"""Demo compression benchmark: does ``decig demo`` really compress, and within its time budget?

Runs the whole demo (prepare -> profile -> Stage I vanilla + DECIG -> prune -> fine-tune ->
evaluate, :func:`decig.demo_run.run_demo`) with ``configs/demo.yaml`` and collects, from that one
run, the figures the Stage-II issues ask for:

* parameter and true-MAC reduction of the pruned model against the full (vanilla) one,
* PSNR against the ground truth right after pruning and after the fine-tune (the fine-tune must
  raise it), PSNR/|diff| of the pruned model against its unpruned teacher (zero-shot),
* eager and ONNX Runtime latency of the compressed model against the vanilla model in eager
  PyTorch, timed interleaved by the demo's evaluation, and speedup / MAC reduction,
* wall time of every stage and of the whole demo (budget: about 6 minutes on 2 cores).

Each figure is listed next to its goal with ``met: true/false``; nothing is asserted, so a miss is
recorded rather than hidden. Rerun with::

    python benchmarks/bench_demo_compression.py --out benchmarks/results/demo_compression.json

``--from-run DIR`` re-reads the ``summary.json`` of an earlier ``decig demo`` instead of running it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# Acceptance targets (issues 4 and 5): hard ones first, then the latency goals that are reported.
PARAMS_RATIO_GOAL = 5.0
WALL_TIME_GOAL_S = 6 * 60
LATENCY_GOALS = {"eager_speedup": 6.0, "onnx_speedup": 12.0, "speedup_over_mac_reduction": 0.8}


def _goal(measured: float | None, goal: float, *, at_most: bool = False) -> dict[str, Any]:
    met = measured is not None and (measured <= goal if at_most else measured >= goal)
    return {"goal": goal, "measured": measured, "met": met, "direction": "<=" if at_most else ">="}


def collect(summary: dict[str, Any]) -> dict[str, Any]:
    """The benchmark record from a demo ``summary.json`` (pure: reads only the given dict)."""
    models = summary["models"]
    vanilla, pruned, student = models["vanilla"], models["pruned"], models["student"]
    params_ratio = vanilla["cost"]["params"] / student["cost"]["params"]
    mac_ratio = vanilla["cost"]["macs_true"] / student["cost"]["macs_true"]
    base_eager = vanilla["latency"]["eager"]["median_ms"]
    latency = {}
    for backend, timing in student["latency"].items():
        latency[backend] = {
            "median_ms": timing["median_ms"],
            "speedup_vs_vanilla_eager": base_eager / timing["median_ms"],
            "speedup_same_backend": timing.get("speedup_same_backend"),
            "speedup_over_mac_reduction": timing.get("speedup_over_mac_reduction"),
        }
    psnr_pruned = pruned["quality"]["psnr_db"]
    psnr_student = student["quality"]["psnr_db"]
    stages = summary.get("stage_wall_time_s", {})
    wall = summary["wall_time_s"]
    same_backend = [t["speedup_over_mac_reduction"] for t in latency.values() if t["speedup_over_mac_reduction"]]
    return {
        "figures": {
            "params": {"vanilla": vanilla["cost"]["params"], "pruned": student["cost"]["params"], "ratio": params_ratio},
            "macs_true": {"vanilla": vanilla["cost"]["macs_true"], "pruned": student["cost"]["macs_true"],
                          "ratio": mac_ratio},
            "psnr_vs_ground_truth_db": {
                "vanilla": vanilla["quality"]["psnr_db"],
                "teacher": models["teacher"]["quality"]["psnr_db"],
                "pruned_before_finetune": psnr_pruned,
                "after_finetune": psnr_student,
                "finetune_gain": psnr_student - psnr_pruned,
            },
            "zero_shot_vs_teacher": summary.get("zero_shot"),
            "latency": latency,
            "wall_time_s": {"total": wall, **stages},
        },
        "acceptance": {
            "params_ratio": _goal(params_ratio, PARAMS_RATIO_GOAL),
            "finetune_raises_psnr": {"measured": psnr_student - psnr_pruned, "met": psnr_student > psnr_pruned},
            "demo_wall_time_s": _goal(wall, WALL_TIME_GOAL_S, at_most=True),
        },
        "latency_goals": {
            "eager_speedup": _goal(latency.get("eager", {}).get("speedup_vs_vanilla_eager"),
                                   LATENCY_GOALS["eager_speedup"]),
            "onnx_speedup": _goal(latency.get("onnx", {}).get("speedup_vs_vanilla_eager"),
                                  LATENCY_GOALS["onnx_speedup"]),
            # The weakest backend decides: the saving must show up on every runtime.
            "speedup_over_mac_reduction": _goal(min(same_backend) if same_backend else None,
                                                LATENCY_GOALS["speedup_over_mac_reduction"]),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="configs/demo.yaml", help="demo config (default: configs/demo.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--run-dir", default=None, help="where the demo writes (default: runs/bench-demo-<timestamp>)")
    parser.add_argument("--from-run", default=None, help="read an earlier demo's output directory instead of running")
    parser.add_argument("--no-fid", action="store_true", help="skip FID/KID in the demo's evaluation (faster)")
    parser.add_argument("--out", default="benchmarks/results/demo_compression.json", help="results JSON")
    args = parser.parse_args(argv)

    from decig.core.log import setup_logging

    setup_logging()
    if args.from_run:
        run_dir = Path(args.from_run)
        summary = json.loads((run_dir / "summary.json").read_text())
        config_path = run_dir / "stage1-decig" / "config.resolved.yaml"
    else:
        from decig.config import load_config
        from decig.demo_run import run_demo

        cfg = load_config(args.config, args.set)
        run_dir = Path(args.run_dir or f"runs/bench-demo-{time.strftime('%Y%m%d-%H%M%S')}")
        summary = run_demo(cfg, run_dir, fid=not args.no_fid)
        config_path = run_dir / "stage1-decig" / "config.resolved.yaml"
    record = {
        "benchmark": "demo_compression",
        "config": str(args.config if not args.from_run else config_path),
        "overrides": args.set,
        "run_dir": str(run_dir),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "load_average_1m_at_end": os.getloadavg()[0]},
        "note": "wall times depend on what else runs on the machine; load_average_1m_at_end shows the contention",
        **collect(summary),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps({"acceptance": record["acceptance"], "latency_goals": record["latency_goals"]}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
