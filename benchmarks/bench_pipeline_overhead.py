"""What running the stages as a kfp.local DAG costs on top of calling them in one process.

Runs the same tiny configuration (unet_32, a few steps, no FID) three ways, one after the other in
one invocation: the stages called in-process (``decig.demo_run.run_demo``), the DAG through
``kfp.local`` with tracking off, and the DAG with MLflow tracking into an sqlite file (what
``decig run`` does). The training/pruning/evaluation compute is the same in all three; the DAG
adds an ONNX export task (and, with tracking, model registration), and otherwise the differences
are orchestration: one Python subprocess per task (interpreter start, imports of torch/kfp/mlflow),
artifact copies, and MLflow run bookkeeping. Reports wall time and CPU time (this process + children); on a shared
machine CPU seconds are the stable figure, wall time shows contention.

    python benchmarks/bench_pipeline_overhead.py --out benchmarks/results/pipeline_overhead_tiny.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.load_size=36", "data.crop_size=32", "model.arch=unet_32", "model.ngf=8", "model.input_size=32",
        "stage1.steps=6", "stage1.batch_size=2", "stage1.checkpoint_every=3", "finetune.steps=3",
        "finetune.batch_size=2", "data.max_eval=3"]


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(fn) -> dict[str, float]:
    c0, t0 = _cpu(), time.perf_counter()
    fn()
    return {"wall_s": time.perf_counter() - t0, "cpu_s": _cpu() - c0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from decig.config import load_config
    from decig.data.demo import generate_demo_dataset
    from decig.demo_run import run_demo
    from decig.kubeflow.local_run import run_local

    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        data = generate_demo_dataset(work / "data", n_train=8, n_val=0, n_test=3, size=32)
        cfg = load_config(ROOT / "configs/demo.yaml", [f"data.root={data}", *TINY])
        runs = {
            "in_process": _measure(lambda: run_demo(cfg, work / "inproc", fid=False)),
            "kfp_local": _measure(lambda: run_local(cfg, pipeline_root=work / "kfp", fid=False, tracking_uri="off")),
            "kfp_local_mlflow": _measure(lambda: run_local(cfg, pipeline_root=work / "kfp-ml", fid=False,
                                                           tracking_uri=f"sqlite:///{work / 'mlflow.db'}")),
        }
        tasks = sum(1 for p in (work / "kfp").rglob("executor_output.json"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = runs["in_process"]
    results = {
        "benchmark": "pipeline_overhead",
        "config": "configs/demo.yaml + " + " ".join(TINY),
        "tasks_executed": tasks,
        "runs": runs,
        "overhead_vs_in_process": {k: {m: v[m] - base[m] for m in ("wall_s", "cpu_s")} for k, v in runs.items()
                                   if k != "in_process"},
        "load_average_1m_at_end": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    results["cpu_overhead_per_task_s"] = results["overhead_vs_in_process"]["kfp_local"]["cpu_s"] / max(tasks, 1)
    for name, r in runs.items():
        print(f"{name:<18} wall {r['wall_s']:7.1f} s   cpu {r['cpu_s']:7.1f} s")
    print(f"{tasks} tasks; orchestration CPU overhead {results['cpu_overhead_per_task_s']:.2f} s/task "
          f"(load average {results['load_average_1m_at_end']:.1f} on {os.cpu_count()} cores)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
