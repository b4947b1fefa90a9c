"""What every KFP component does around its stage function, in one place.

KFP lightweight components ship their function's *source* into the pod, so a component body can
only hold imports and a call. The bodies (:mod:`decig.components.functions`) therefore call the
helpers here, which live in the installed package (the component image bakes decig in):

- parse and validate the config string once per task (the first task resolved the overrides),
- open the stage's MLflow run (nested under the pipeline's parent) unless tracking is off,
- call the :mod:`decig.stages` function with the task's artifact paths,
- mirror numeric results into the KFP ``Metrics`` artifact, so the KFP UI shows them too.

Nothing here imports kfp: artifacts arrive as paths plus a duck-typed ``log_metric`` object.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decig.config import DecigConfig, config_from_dict
from decig.core.errors import ConfigError, DeviceError
from decig.core.log import get_logger

log = get_logger(__name__)

TRACKING_OFF = "off"  # tracking_uri value that disables MLflow (DAG-only tests, air-gapped dry runs)
DATASET_SUBDIR = "dataset"  # the Dataset artifact carries the images, so pods need no shared disk
EVAL_DEVICE_FILE = "device.json"


@dataclass(frozen=True)
class TaskContext:
    """The facts every stage task shares: config, tracking target and the run hierarchy ids."""

    cfg: DecigConfig
    tracking_uri: str
    parent_run_id: str = ""
    pipeline_run_id: str = ""
    device: str | None = None

    @property
    def tracking_enabled(self) -> bool:
        return self.tracking_uri != TRACKING_OFF


def parse_config(config_json: str) -> DecigConfig:
    try:
        raw = json.loads(config_json)
    except json.JSONDecodeError as err:
        raise ConfigError(f"the pipeline's config_json parameter is not JSON: {err}") from None
    return config_from_dict(raw, "pipeline parameter config_json")


def resolve_tracking_uri(cfg: DecigConfig, tracking_uri: str) -> str:
    """'' -> config, env MLFLOW_TRACKING_URI, or sqlite:///mlflow.db in the working dir; 'off' stays off."""
    if tracking_uri == TRACKING_OFF:
        return TRACKING_OFF
    from decig.tracking.mlflow_runs import default_tracking_uri

    return default_tracking_uri(tracking_uri or cfg.tracking.uri)


def write_run_context(path: str | Path, cfg: DecigConfig, parent_run_id: str) -> None:
    """The run_context artifact: the resolved config and the parent MLflow run id, for every later task."""
    Path(path).write_text(json.dumps({"config": cfg.to_dict(), "parent_run_id": parent_run_id}, indent=2))


def context(run_context_path: str, tracking_uri: str, pipeline_run_id: str = "",
            device: str | None = None) -> TaskContext:
    """A task's view of the run, from the run_context artifact written by the first task."""
    data = json.loads(Path(run_context_path).read_text())
    cfg = config_from_dict(data["config"], "run_context artifact")
    return TaskContext(cfg, resolve_tracking_uri(cfg, tracking_uri), data["parent_run_id"], pipeline_run_id, device)


def pipeline_overrides(*, method: str = "", reg: str = "", penalty_shape: str = "", arch: str = "",
                       dataset: str = "", stage1_steps: int = 0, finetune_steps: int = 0, seed: int = -1) -> list[str]:
    """Pipeline parameters as ``--set`` overrides; the empty/zero/-1 defaults mean 'as in the config'.

    ``method`` is always written into the config: the DAG branches on the pipeline parameter, and
    the recorded config must say which branch ran.
    """
    out = []
    if method:
        out.append(f"method={method}")
    if reg:
        out.append(f"stage1.penalty.reg={reg}")
    if penalty_shape:
        out.append(f"stage1.penalty.shape={penalty_shape}")
    if arch:
        out.append(f"model.arch={arch}")
    if dataset:
        out.append(f"data.root={dataset}")
    if stage1_steps > 0:
        out.append(f"stage1.steps={stage1_steps}")
    if finetune_steps > 0:
        out.append(f"finetune.steps={finetune_steps}")
    if seed >= 0:
        out.append(f"seed={seed}")
    return out


def resolve_pipeline_config(config_json: str, overrides: list[str]) -> DecigConfig:
    """The config the whole run uses: the parameter's JSON plus the DAG's typed overrides, validated."""
    from decig.config import apply_overrides

    cfg = parse_config(config_json)
    return config_from_dict(apply_overrides(cfg.to_dict(), overrides), "config_json + pipeline parameters")


def device_kind(name: str) -> str:
    """'cpu' | 'cuda' | 'mac' from a device name, without touching torch (the gate runs anywhere)."""
    import re

    text = name.strip().lower()
    if text in ("cpu", "mac"):
        return text
    if re.fullmatch(r"cuda(?::\d+)?", text):
        return "cuda"
    from decig.devices.spec import VALID_NAMES

    raise DeviceError(f"unknown device {name!r}; valid devices: {VALID_NAMES}")


def kfp_metrics(result: dict[str, Any], metrics: Any) -> None:
    """Finite numbers of a stage result into a KFP Metrics artifact (strings and paths stay out)."""
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            metrics.log_metric(key.replace("/", "."), float(value))


@contextmanager
def tracked(ctx: TaskContext, stage: str) -> Iterator[Any]:
    """The stage's MLflow run (``None`` when tracking is off)."""
    if not ctx.tracking_enabled:
        yield None
        return
    from decig.tracking.stage_tracking import track_stage

    with track_stage(ctx.cfg, stage, device=ctx.device, parent_run_id=ctx.parent_run_id or None,
                     pipeline_run_id=ctx.pipeline_run_id or None, tracking_uri=ctx.tracking_uri) as tracker:
        yield tracker


def run_tracked(ctx: TaskContext, stage: str, out_dir: str | Path, metrics: Any,
                fn: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``fn(on_metrics)`` inside the stage's MLflow run; results logged to MLflow and KFP Metrics."""
    with tracked(ctx, stage) as tracker:
        result = fn(tracker.on_metrics if tracker is not None else None)
        if tracker is not None:
            tracker.finish(result, out_dir)
    kfp_metrics(result, metrics)
    return result


# --- one function per component ------------------------------------------------------------------

def prepare(config_json: str, overrides: list[str], tracking_uri: str, pipeline_run_id: str, run_context_path: str,
            data_path: str, metrics: Any) -> None:
    """Resolve the run's config, materialize the dataset into the artifact, open the parent MLflow run."""
    from decig import stages

    cfg = resolve_pipeline_config(config_json, overrides)
    uri = resolve_tracking_uri(cfg, tracking_uri)
    parent = ""
    if uri != TRACKING_OFF:
        from decig.tracking.stage_tracking import open_pipeline_run

        parent = open_pipeline_run(cfg, pipeline_run_id=pipeline_run_id, tracking_uri=uri)
    ctx = TaskContext(cfg, uri, parent, pipeline_run_id)
    out = Path(data_path)

    write_run_context(run_context_path, cfg, parent)
    result = run_tracked(ctx, "prepare_data", out, metrics, lambda _cb: stages.prepare_data(cfg, out))
    # Copied after the stage's MLflow run has logged its outputs (manifest, record, config): the
    # images themselves are versioned by their md5, not re-uploaded to MLflow on every run.
    dest = out / DATASET_SUBDIR
    if Path(result["data_root"]).resolve() != dest.resolve():
        shutil.copytree(result["data_root"], dest)  # copy, never move: the source is the user's data


def dataset_root(data_path: str) -> Path:
    return Path(data_path) / DATASET_SUBDIR


def profile(ctx: TaskContext, out_path: str, metrics: Any) -> None:
    from decig import stages

    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=True)
    run_tracked(ctx, "profile", out, metrics,
                lambda _cb: stages.profile_device(ctx.cfg, ctx.device or "cpu", out / "profile.json"))


def stage1(ctx: TaskContext, data_path: str, profile_path: str | None, out_path: str, metrics: Any, *,
           vanilla: bool = False) -> None:
    """DECIG Stage I with the device's l(i), or the vanilla baseline (same config, penalty shape none)."""
    from decig import stages

    cfg = ctx.cfg
    if vanilla:
        raw = cfg.to_dict()
        raw["stage1"]["penalty"]["shape"] = "none"
        cfg = config_from_dict(raw, "vanilla baseline")
        ctx = TaskContext(cfg, ctx.tracking_uri, ctx.parent_run_id, ctx.pipeline_run_id, ctx.device)
    prof = Path(profile_path) / "profile.json" if profile_path else None
    run_tracked(ctx, "stage1_vanilla" if vanilla else "stage1", out_path, metrics,
                lambda cb: stages.stage1(cfg, dataset_root(data_path), prof, out_path, on_metrics=cb))


def prune(ctx: TaskContext, stage1_path: str, data_path: str, profile_path: str, out_path: str, metrics: Any) -> None:
    from decig import stages

    run_tracked(ctx, "prune", out_path, metrics,
                lambda _cb: stages.prune(ctx.cfg, stage1_path, out_path, data_root=dataset_root(data_path),
                                         profile_path=Path(profile_path) / "profile.json"))


def finetune(ctx: TaskContext, stage1_path: str, prune_path: str, data_path: str, out_path: str, metrics: Any) -> None:
    from decig import stages

    run_tracked(ctx, "finetune", out_path, metrics,
                lambda cb: stages.finetune(ctx.cfg, stage1_path, prune_path, dataset_root(data_path), out_path,
                                           on_metrics=cb))


def coronet(ctx: TaskContext, data_path: str, profile_path: str, out_path: str, metrics: Any) -> None:
    """CoroNetGAN training + extraction; writes ``out/model`` in the fine-tuned student's format."""
    from decig.coronet.stage import coronet_stage

    run_tracked(ctx, "coronet", out_path, metrics,
                lambda cb: coronet_stage(ctx.cfg, dataset_root(data_path), Path(profile_path) / "profile.json",
                                         out_path, on_metrics=cb))


def evaluate(ctx: TaskContext, models: dict[str, str], data_path: str, out_path: str, report_html: str,
             report_md: str, metrics: Any, *, fid: bool, hinge_plot: str | None = None) -> None:
    """All models side by side on the test split; the reports are copied into their own KFP artifacts."""
    from decig import stages

    out = Path(out_path)
    present = {name: path for name, path in models.items() if Path(path).is_dir()}
    plot = Path(hinge_plot) if hinge_plot and Path(hinge_plot).is_file() else None
    run_tracked(ctx, "evaluate", out, metrics,
                lambda _cb: stages.evaluate(ctx.cfg, present, dataset_root(data_path), out, hinge_plot=plot, fid=fid,
                                            backends=("eager", "onnx"), threads=1, repeats=20))
    (out / EVAL_DEVICE_FILE).write_text(json.dumps({"device": ctx.device}))
    shutil.copyfile(out / "report.html", report_html)
    shutil.copyfile(out / "report.md", report_md)


def export(ctx: TaskContext, model_dir: str, out_path: str, metrics: Any) -> None:
    from decig.export.stage import export_stage

    run_tracked(ctx, "export", out_path, metrics, lambda _cb: export_stage(ctx.cfg, model_dir, out_path))


def register(ctx: TaskContext, model_dir: str, eval_path: str, export_path: str, metrics: Any, *,
             auto_promote: bool, image_digest: str) -> str:
    """Register the student as ``@candidate`` (the gate may promote it); returns 'name/version' or why not."""
    if not ctx.tracking_enabled:
        log.warning("tracking is off: the model is not registered")
        return "not registered (tracking off)"
    from decig.tracking.model_registry import register_candidate

    result = register_candidate(
        ctx.cfg, device=ctx.device or "cpu", model_dir=model_dir, eval_dir=eval_path, export_dir=export_path,
        parent_run_id=ctx.parent_run_id or None, tracking_uri=ctx.tracking_uri, auto_promote=auto_promote,
        pipeline_run_id=ctx.pipeline_run_id or None, image_digest=image_digest or None,
    )
    metrics.log_metric("promoted", float(bool(result.get("promoted"))))
    metrics.log_metric("version", float(result["version"]))
    return f"{result['name']}/{result['version']}"


def finalize(config_json: str, tracking_uri: str, pipeline_run_id: str, state: str) -> str:
    """The exit handler: mark the parent MLflow run FINISHED or FAILED from the DAG's final state."""
    status = "FINISHED" if state == "SUCCEEDED" else "FAILED"
    cfg = parse_config(config_json)
    uri = resolve_tracking_uri(cfg, tracking_uri)
    if uri == TRACKING_OFF:
        return status
    from decig.tracking.stage_tracking import close_pipeline_run, open_pipeline_run

    # The exit task may not consume other tasks' outputs (a KFP rule), so it looks the parent up by
    # the pipeline run id; open_pipeline_run is idempotent and returns the existing run.
    parent = open_pipeline_run(cfg, pipeline_run_id=pipeline_run_id, tracking_uri=uri)
    close_pipeline_run(parent, status=status, tracking_uri=uri)
    return status
