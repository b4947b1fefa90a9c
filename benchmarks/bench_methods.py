"""Side-by-side benchmark of the two compression methods on the demo data: DECIG vs CoroNetGAN.

Both get the same budget of optimizer steps on ``configs/demo.yaml``:

* DECIG: profile -> Stage I (``--stage1-steps``) -> prune -> fine-tune (``--finetune-steps``),
  through :mod:`decig.stages` exactly as the pipeline runs it;
* CoroNetGAN: one run of ``stage1-steps + finetune-steps`` steps (:func:`decig.coronet.stage.coronet_stage`)
  whose params target is the ratio DECIG's pruning reached, so both end at (about) the same size.

Then one :func:`decig.stages.evaluate` call measures all models on the test split in the same
process: parameters and true MACs, PSNR/SSIM against the ground truth, FID/KID, and CPU latency
timed interleaved (ratios against the full-width Stage-I generator, which has the vanilla
architecture). Training wall times come from the stages themselves. Writes
``benchmarks/results/methods.json``; nothing is asserted. Rerun with::

    .venv/bin/python benchmarks/bench_methods.py --out benchmarks/results/methods.json

The demo data in ``data/`` is generated when absent (``decig.data.demo.generate_demo_dataset``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from decig import stages
    from decig.config import load_config
    from decig.coronet.stage import coronet_stage
    from decig.data.demo import generate_demo_dataset
    from decig.models.cost import count_cost
    from decig.models.persistence import load_model

    torch.set_num_threads(args.threads)
    data_root = ROOT / "data"
    if not (data_root / "train").is_dir():
        generate_demo_dataset(data_root, seed=0)
    work = Path(tempfile.mkdtemp(prefix="bench-methods-")) if args.work is None else args.work
    work.mkdir(parents=True, exist_ok=True)
    demo = load_config(ROOT / "configs" / "demo.yaml")
    s1_steps = args.stage1_steps or demo.stage1.steps
    ft_steps = args.finetune_steps or demo.finetune.steps
    base = [
        f"stage1.steps={s1_steps}", f"finetune.steps={ft_steps}",
        f"stage1.checkpoint_every={s1_steps}", f"finetune.checkpoint_every={ft_steps}",
        "data.root=" + str(data_root), *args.set,
    ]  # fmt: skip
    cfg = load_config(ROOT / "configs" / "demo.yaml", base)
    wall: dict[str, float] = {}

    # ---- DECIG, as the pipeline runs it
    prof, wall["profile"] = _timed(stages.profile_device, cfg, cfg.devices[0], work / "profile.json")
    _, wall["stage1"] = _timed(stages.stage1, cfg, data_root, prof["profile"], work / "stage1")
    _, wall["prune"] = _timed(stages.prune, cfg, work / "stage1", work / "prune", data_root=data_root)
    _, wall["finetune"] = _timed(stages.finetune, cfg, work / "stage1", work / "prune", data_root, work / "finetune")
    full, full_manifest = load_model(work / "stage1" / "generator")
    student, student_manifest = load_model(work / "finetune" / "generator")
    size = full_manifest.input_size
    decig_ratio = count_cost(student, size).params_total / count_cost(full, size).params_total

    # ---- CoroNetGAN with the same step budget, aimed at the size DECIG reached
    total_steps = s1_steps + ft_steps
    # Equal size makes quality comparable; when DECIG did not prune (too few steps for its
    # penalty to condense channels) CoroNet gets --fallback-target instead of a no-op target.
    target = decig_ratio if decig_ratio < 0.95 else args.fallback_target
    cor_cfg = load_config(ROOT / "configs" / "demo.yaml", [
        *base, "method=coronet", f"coronet.steps={total_steps}", f"coronet.target_ratio={target:.6f}",
        f"coronet.lr={cfg.stage1.lr}", f"coronet.checkpoint_every={total_steps}", *args.coronet_set,
    ])  # fmt: skip
    coronet, wall["coronet"] = _timed(coronet_stage, cor_cfg, data_root, None, work / "coronet")

    # ---- one evaluation of every model, latency interleaved
    models = {
        "full": str(work / "stage1" / "generator"),
        "decig": str(work / "finetune" / "generator"),
        "coronet": str(work / "coronet" / "model"),
    }
    _, wall["evaluate"] = _timed(
        stages.evaluate, cfg, models, data_root, work / "evaluate", baseline="full", teacher=None, fid=not args.no_fid,
        backends=("eager",), threads=args.threads, repeats=args.repeats,
    )  # fmt: skip
    metrics = json.loads((work / "evaluate" / "metrics.json").read_text())
    rows: dict[str, Any] = {}
    for name, row in metrics["models"].items():
        eager = row["latency"].get("eager", {})
        rows[name] = {
            "params": row["cost"]["params"],
            "macs_true": row["cost"]["macs_true"],
            "params_ratio_vs_full": row["cost"]["params"] / metrics["models"]["full"]["cost"]["params"],
            "cpu_eager_median_ms": eager.get("median_ms"),
            "cpu_fps": 1000.0 / eager["median_ms"] if eager.get("median_ms") else None,
            "cpu_fps_ratio_vs_full": eager.get("speedup_vs_baseline"),
            "psnr_db": row["quality"]["psnr_db"],
            "ssim": row["quality"]["ssim"],
            "fid": (row.get("fid") or {}).get("fid"),
            "kid": (row.get("fid") or {}).get("kid_mean"),
        }
    rows["decig"]["training_wall_s"] = wall["stage1"] + wall["prune"] + wall["finetune"]
    rows["decig"]["training_steps"] = total_steps
    rows["coronet"]["training_wall_s"] = wall["coronet"]
    rows["coronet"]["training_steps"] = total_steps
    rows["coronet"]["target_ratio"] = target
    rows["coronet"]["target_reached_at_step"] = coronet.get("target_reached_at_step")
    rows["full"]["note"] = "DECIG's Stage-I generator: the full (vanilla) architecture, the latency baseline"
    result = {
        "benchmark": "bench_methods",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": "configs/demo.yaml",
        "overrides": base,
        "coronet_overrides": [f"coronet.steps={total_steps}", f"coronet.target_ratio={target:.6f}", *args.coronet_set],
        "step_budget": {"decig_stage1": s1_steps, "decig_finetune": ft_steps, "coronet": total_steps},
        "coronet_target_source": "decig params ratio" if decig_ratio < 0.95 else "fallback (DECIG did not prune)",
        "models": rows,
        "stage_wall_s": wall,
        "eval_images": metrics.get("num_images") or metrics.get("images"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "threads": args.threads},
        "work_dir": str(work),
    }  # fmt: skip
    if args.work is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        result["work_dir"] = None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage1-steps", type=int, help="DECIG Stage-I steps (default: configs/demo.yaml's)")
    parser.add_argument("--finetune-steps", type=int, help="DECIG fine-tune steps (default: the demo's; CoroNet gets the sum)")
    parser.add_argument("--fallback-target", type=float, default=0.3,
                        help="CoroNet params target when DECIG's pruning kept >= 95%% of the parameters")
    parser.add_argument("--set", action="append", default=[], help="extra config override for both methods")
    parser.add_argument("--coronet-set", action="append", default=[], help="extra override for the CoroNet run only")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (training and latency)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per model in the latency pass")
    parser.add_argument("--no-fid", action="store_true", help="skip FID/KID (the Inception pass)")
    parser.add_argument("--work", type=Path, help="keep all run directories here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "methods.json")
    args = parser.parse_args(argv)
    from decig.core.log import setup_logging

    setup_logging(0)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for name, row in result["models"].items():
        print(f"{name:8s} params {row['params']:>10,}  fps x{row['cpu_fps_ratio_vs_full'] or float('nan'):.2f}  "
              f"psnr {row['psnr_db']:.2f}  fid {row['fid'] if row['fid'] is not None else 'n/a'}  "
              f"train {row.get('training_wall_s', float('nan')):.0f}s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
