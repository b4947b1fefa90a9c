"""``decig run``: the whole pipeline DAG on this machine through ``kfp.local``.

The same compiled DAG a cluster runs, executed task by task in subprocesses of this Python
(``SubprocessRunner(use_venv=False)``: the venv already holds decig and the exact kfp), with
MLflow on an embedded sqlite file. Container settings (image, GPU, secrets, retries) are ignored
locally by design; they only matter on a cluster.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decig.config import DecigConfig
from decig.core.errors import DecigError
from decig.core.log import get_logger

log = get_logger(__name__)

EVAL_TASK_OUTPUT = "evaluation"


class PipelineRunError(DecigError):
    """A pipeline task failed; the message names the run directory holding its logs and outputs."""


@dataclass(frozen=True)
class LocalRunResult:
    run_dir: Path
    wall_time_s: float
    evaluations: dict[str, dict[str, Any]]  # device -> metrics.json of its evaluate task
    reports: dict[str, Path]  # device -> report.html
    tracking_uri: str


def embedded_tracking_uri(workdir: str | Path = ".") -> str:
    """The default store of `decig run`: an sqlite file in the working directory (absolute, for subprocesses)."""
    return f"sqlite:///{Path(workdir).resolve() / 'mlflow.db'}"


def _newest_run_dir(root: Path, before: set[Path]) -> Path:
    new = [p for p in root.iterdir() if p.is_dir() and p not in before]
    if not new:
        raise PipelineRunError(f"kfp.local wrote no run directory under {root}")
    return max(new, key=lambda p: p.stat().st_mtime)


def collect_evaluations(run_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """device -> evaluation metrics and report, found by the evaluate tasks' output artifacts."""
    from decig.components.runtime import EVAL_DEVICE_FILE

    evaluations, reports = {}, {}
    # Tasks inside a ParallelFor land in <run>/for-loop-*-iteration-<i>/<task>/<output>.
    for marker in sorted(run_dir.rglob(f"{EVAL_TASK_OUTPUT}/{EVAL_DEVICE_FILE}")):
        out = marker.parent
        device = json.loads(marker.read_text())["device"]
        evaluations[device] = json.loads((out / "metrics.json").read_text())
        reports[device] = out / "report.html"
    return evaluations, reports


def run_local(cfg: DecigConfig, *, pipeline_root: str | Path, fid: bool = True, tracking_uri: str | None = None,
              image: str | None = None) -> LocalRunResult:
    """Validate, then run the DAG with kfp.local; raises :class:`PipelineRunError` when a task fails."""
    from kfp import local

    from decig.kubeflow.image import resolve_image
    from decig.kubeflow.validate import check_local_run
    from decig.pipeline.dag import build_pipeline

    check_local_run(cfg)
    uri = tracking_uri or embedded_tracking_uri()
    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    # Tasks inherit this environment: no usage telemetry from the embedded MLflow.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # kfp warns once per task that the image is not used locally; running from this venv is the point.
    warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom",
                            category=RuntimeWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=False)
    pipeline = build_pipeline(resolve_image(image))
    t0 = time.perf_counter()
    pipeline(config_json=json.dumps(cfg.to_dict()), devices=list(cfg.devices), method=cfg.method, fid=fid,
             tracking_uri=uri)
    wall = time.perf_counter() - t0
    run_dir = _newest_run_dir(root, before)
    evaluations, reports = collect_evaluations(run_dir)
    missing = [d for d in cfg.devices if d not in evaluations]
    if missing:
        raise PipelineRunError(
            f"the pipeline did not finish for device(s) {missing}; task logs are above and outputs in {run_dir}"
        )
    return LocalRunResult(run_dir, wall, evaluations, reports, uri)


def summary_rows(metrics: dict[str, Any], compressed: str = "student") -> list[dict[str, Any]]:
    """vanilla vs compressed (and the intermediates when present): FPS, FID, PSNR, params, speedups."""
    rows = []
    models = metrics["models"]
    for name in ("vanilla", "teacher", "pruned", compressed):
        if name not in models or any(r["model"] == name for r in rows):
            continue
        m = models[name]
        lat = m.get("latency") or {}
        eager, ort = lat.get("eager") or {}, lat.get("onnx") or {}
        rows.append({
            "model": name,
            "params": m["cost"]["params"],
            "psnr_db": m["quality"]["psnr_db"],
            "fid": (m.get("fid") or {}).get("fid"),
            "fps_eager": 1000.0 / eager["median_ms"] if eager.get("median_ms") else None,
            "fps_onnx": 1000.0 / ort["median_ms"] if ort.get("median_ms") else None,
            "speedup_eager": eager.get("speedup_vs_baseline"),
            "speedup_onnx": ort.get("speedup_vs_baseline"),
        })
    return rows


def format_summary(result: LocalRunResult) -> str:
    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(float(v), fmt)

    lines = []
    for device, metrics in result.evaluations.items():
        lines.append(f"\ndevice {device}: vanilla vs compressed (latency at batch 1, 1 thread, medians)")
        lines.append(f"{'model':<9}{'params':>12}{'PSNR dB':>9}{'FID':>8}{'FPS eager':>11}{'FPS ORT':>9}"
                     f"{'speedup':>9}{'ORT speedup':>13}")
        for r in summary_rows(metrics):
            lines.append(f"{r['model']:<9}{r['params']:>12,}{num(r['psnr_db'], '.2f'):>9}{num(r['fid'], '.1f'):>8}"
                         f"{num(r['fps_eager'], '.1f'):>11}{num(r['fps_onnx'], '.1f'):>9}"
                         f"{num(r['speedup_eager'], '.2f'):>8}x{num(r['speedup_onnx'], '.2f'):>12}x")
        lines.append(f"report: {result.reports[device]}")
    lines.append(f"\npipeline outputs: {result.run_dir}")
    if result.tracking_uri != "off":
        store = result.tracking_uri.removeprefix("sqlite:///")
        lines.append(f"MLflow: {result.tracking_uri}  (UI: mlflow ui --backend-store-uri sqlite:///{store})"
                     if result.tracking_uri.startswith("sqlite:") else f"MLflow: {result.tracking_uri}")
    lines.append(f"wall time {result.wall_time_s / 60:.1f} min")
    return "\n".join(lines)
