"""Tracking a pipeline stage in MLflow without putting MLflow into the stage functions.

The stage functions of :mod:`decig.stages` stay MLflow-free; a caller (the CLI, a KFP component,
``decig demo``) wraps one call in :func:`track_stage`::

    parent = open_pipeline_run(cfg, pipeline_run_id=run_id)          # once per pipeline run
    with track_stage(cfg, "stage1", device="cpu", parent_run_id=parent) as t:
        result = stages.stage1(cfg, data, profile, out, on_metrics=t.on_metrics)
        t.finish(result, out)
    close_pipeline_run(parent, status="FINISHED")                      # in the ExitHandler

What lands in the stage's MLflow run: params = the resolved config (flattened, redacted); per-step
training metrics through ``on_metrics``; final numeric results as metrics; the stage's output
directory (profile, plan.json, hinge plots, report, sample grids, run_record.json, the saved
generator) as artifacts under ``outputs/``; lineage tags (git SHA and dirty flag, config hash,
seed, torch threads, image digest, data md5). A data stage's md5 is also logged as an MLflow
dataset input with that digest, and copied onto the parent run so every later stage can be
audited back to its data.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from decig.core.errors import TrackingError
from decig.core.log import get_logger
from decig.tracking.mlflow_runs import (
    KFP_RUN_ID_TAG,
    PARENT_RUN_TAG,
    StageRun,
    _experiment_id,
    default_tracking_uri,
    open_parent_run,
    redact,
    stage_run,
    with_retries,
)

log = get_logger(__name__)

# Output sub-directories never uploaded: resumable checkpoints are large and superseded by the
# saved generator; a fetched dataset copy is recorded by its md5 (and lives in DVC), not duplicated.
SKIP_DIRS = frozenset({"checkpoints", "dataset"})
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024

OUTPUTS_PATH = "outputs"  # artifact folder holding a stage's output directory
INPUTS_PATH = "inputs"  # artifact folder holding inputs uploaded for `decig reproduce`
RECORD_FILE = "run_record.json"

# Lineage tag keys (one place, so audit/registry/reproduce read what the tracker writes).
TAG_STAGE = "decig.stage"
TAG_DEVICE = "decig.devices"
TAG_GIT_SHA = "decig.git_sha"
TAG_GIT_DIRTY = "decig.git_dirty"
TAG_CONFIG_HASH = "decig.config_hash"
TAG_SEED = "decig.seed"
TAG_THREADS = "decig.torch_threads"
TAG_IMAGE_DIGEST = "decig.image_digest"
TAG_DATA_MD5 = "decig.data_md5"
TAG_PROFILE_HASH = "decig.profile_hash"
TAG_OUT_DIR = "decig.out_dir"
VALID_END_STATUSES = ("FINISHED", "FAILED", "KILLED")


def experiment_name(cfg: Any) -> str:
    return cfg.tracking.experiment or cfg.experiment


def resolve_uri(cfg: Any | None, tracking_uri: str | None) -> str:
    """Explicit argument, then the config's ``tracking.uri``, then env, then the sqlite default."""
    configured = tracking_uri or (cfg.tracking.uri if cfg is not None else None)
    return default_tracking_uri(configured)


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _lineage_tags(cfg: Any) -> dict[str, Any]:
    from decig.tracking.lineage import git_info

    git = git_info()
    return {
        TAG_GIT_SHA: git["sha"],
        TAG_GIT_DIRTY: str(git["dirty"]).lower(),
        TAG_CONFIG_HASH: cfg.config_hash(),
        TAG_SEED: cfg.seed,
        TAG_IMAGE_DIGEST: os.environ.get("DECIG_IMAGE_DIGEST"),
    }


def open_pipeline_run(cfg: Any, *, pipeline_run_id: str, tracking_uri: str | None = None) -> str:
    """The parent run of ``pipeline_run_id`` (found by tag, else created); returns its run id.

    Idempotent, so a retried first task or a second caller gets the same parent. When the KFP
    MLflow plugin injected ``MLFLOW_RUN_ID``, the plugin's parent (the injected run's parent) is
    returned instead of creating a second hierarchy.
    """
    if not pipeline_run_id or not str(pipeline_run_id).strip():
        raise TrackingError("pipeline_run_id must be a non-empty string")
    client = _client(resolve_uri(cfg, tracking_uri))
    injected = os.environ.get("MLFLOW_RUN_ID")
    if injected:
        run = with_retries(lambda: client.get_run(injected), what="read injected run")
        return run.data.tags.get(PARENT_RUN_TAG, injected)
    tags = {**_lineage_tags(cfg), "decig.experiment": experiment_name(cfg)}
    return open_parent_run(client, experiment_name(cfg), pipeline_run_id, tags=tags)


def close_pipeline_run(parent_run_id: str, *, status: str, tracking_uri: str | None = None) -> None:
    """Mark the parent run ended (the pipeline's exit handler calls this with the overall status)."""
    if status not in VALID_END_STATUSES:
        raise TrackingError(f"status must be one of {', '.join(VALID_END_STATUSES)}, got {status!r}")
    client = _client(resolve_uri(None, tracking_uri))
    with_retries(lambda: client.set_terminated(parent_run_id, status), what=f"close pipeline run {parent_run_id}")


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _metric_key(key: str) -> str:
    # MLflow metric names allow [A-Za-z0-9_./ -]; anything else (e.g. '@', ':') becomes '_'.
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in key)


class StageTracker:
    """What a stage body talks to: per-step metrics while running, everything else at the end."""

    def __init__(self, run: StageRun, *, stage: str, device: str | None) -> None:
        self._run = run
        self.stage = stage
        self.device = device
        self._last_step: int | None = None

    @property
    def run_id(self) -> str:
        return self._run.run_id

    @property
    def parent_run_id(self) -> str | None:
        return self._run.parent_run_id

    @property
    def client(self) -> Any:
        return self._run.client

    def on_metrics(self, step: int, metrics: dict[str, Any]) -> None:
        """The stages' ``on_metrics`` callback: windowed losses, α, penalty at ``step``."""
        values = {_metric_key(k): v for k, v in ((k, _numeric(v)) for k, v in metrics.items()) if v is not None}
        self._last_step = int(step)
        self._run.log_metrics(values, step=int(step))

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        values = {_metric_key(k): v for k, v in ((k, _numeric(v)) for k, v in metrics.items()) if v is not None}
        self._run.log_metrics(values, step=step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._run.set_tags(tags)

    def log_input_dir(self, name: str, path: str | Path) -> None:
        """Upload an input (dataset, teacher, profile) so ``decig reproduce`` can re-run from MLflow alone."""
        p = Path(path)
        if not p.exists():
            raise TrackingError(f"input {name!r} does not exist: {p}")
        self._run.log_artifact(p, f"{INPUTS_PATH}/{name}")
        self._run.set_tags({f"decig.input.{name}": p.name if p.is_file() else "dir"})

    def log_data_md5(self, md5: str, *, source: str, name: str = "dataset") -> None:
        """Record the dataset as an MLflow dataset input whose digest is the DVC md5 (and as tags)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name, digest=md5, source_type="local" if "://" not in source else "dvc",
                          source=json.dumps({"uri": redact(source)}))
        inp = DatasetInput(dataset=dataset, tags=[InputTag("mlflow.data.context", self.stage)])
        with_retries(lambda: self.client.log_inputs(self.run_id, datasets=[inp]), what="log dataset input")
        self._tag_self_and_parent({TAG_DATA_MD5: md5})

    def _tag_self_and_parent(self, tags: dict[str, Any]) -> None:
        self._run.set_tags(tags)
        if self.parent_run_id:
            StageRun(self.client, self.parent_run_id, None).set_tags(tags)

    def finish(self, result: dict[str, Any], out_dir: str | Path) -> None:
        """Final numeric results -> metrics; the output directory (or file) -> artifacts; lineage -> tags."""
        out = Path(out_dir)
        # Final results sit at the last training step, so a metric's history ends with its final value.
        self.log_metrics(result, step=self._last_step)
        scalars = {f"result.{k}": v for k, v in result.items()
                   if isinstance(v, str) and len(v) < 500 and _numeric(v) is None}
        self._run.set_tags(scalars)
        if out.is_dir():
            self._upload_outputs(out)
            self._run.set_tags({TAG_OUT_DIR: str(out.resolve())})
        elif out.is_file():  # a stage whose only output is one file (e.g. a device profile)
            self._run.log_artifact(out, OUTPUTS_PATH)
        record_path = out / RECORD_FILE
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            self._run.set_tags({
                TAG_GIT_SHA: record.get("git", {}).get("sha"),
                TAG_GIT_DIRTY: str(record.get("git", {}).get("dirty")).lower(),
                TAG_CONFIG_HASH: record.get("config_hash"),
                TAG_SEED: record.get("seed"),
            })
            if record.get("data_md5") and "data_md5" not in result:
                self._run.set_tags({TAG_DATA_MD5: record["data_md5"]})
        if result.get("data_md5"):
            self.log_data_md5(str(result["data_md5"]), source=str(result.get("data_root", out)))
        if result.get("profile_hash"):
            key = f"{TAG_PROFILE_HASH}.{self.device}" if self.device else TAG_PROFILE_HASH
            self._tag_self_and_parent({key: result["profile_hash"]})
            self._run.set_tags({TAG_PROFILE_HASH: result["profile_hash"]})

    def _upload_outputs(self, out: Path) -> None:
        from decig.core.log import progress

        files = [p for p in sorted(out.rglob("*")) if p.is_file()
                 and not (set(p.relative_to(out).parts[:-1]) & SKIP_DIRS)
                 and not p.name.endswith(".tmp") and p.stat().st_size <= MAX_ARTIFACT_BYTES]
        for path in progress(files, desc=f"upload {self.stage} outputs", unit="file"):
            rel = path.relative_to(out).parent
            dest = OUTPUTS_PATH if str(rel) == "." else f"{OUTPUTS_PATH}/{rel.as_posix()}"
            self._run.log_artifact(path, dest)


@contextmanager
def track_stage(
    cfg: Any,
    stage: str,
    *,
    device: str | None = None,
    parent_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    tracking_uri: str | None = None,
) -> Iterator[StageTracker]:
    """Open (or adopt) this stage's nested MLflow run; FINISHED on success, FAILED if the body raises."""
    import torch

    uri = resolve_uri(cfg, tracking_uri)
    experiment = experiment_name(cfg)
    if parent_run_id is not None and pipeline_run_id is None and not os.environ.get("MLFLOW_RUN_ID"):
        # A nested run carries its pipeline's id too, so runs can be searched by either.
        parent = with_retries(lambda: _client(uri).get_run(parent_run_id), what="read parent run")
        pipeline_run_id = parent.data.tags.get(KFP_RUN_ID_TAG)
    with stage_run(tracking_uri=uri, experiment=experiment, stage=stage, device=device,
                   pipeline_run_id=pipeline_run_id, parent_run_id=parent_run_id) as run:
        tracker = StageTracker(run, stage=stage, device=device)
        # Threads change float summation order, so reproduce re-runs with the same count.
        tracker.set_tags({**_lineage_tags(cfg), TAG_THREADS: torch.get_num_threads(), TAG_STAGE: stage,
                          TAG_DEVICE: device})
        run.log_params(cfg.to_dict())
        yield tracker


def experiment_id(client: Any, name: str) -> str:
    return _experiment_id(client, name)
