"""MLflow run hierarchy for pipeline runs: one parent per pipeline run, one nested run per stage.

Three ways a stage meets MLflow, in order of precedence:

1. ``MLFLOW_RUN_ID`` is set: the KFP (>= 2.17) operator-side MLflow plugin already created a
   parent run for the pipeline run and a nested run for this task. We log into that run and
   never create a second hierarchy.
2. A ``parent_run_id`` is passed in: the pipeline's first task opened the parent run (so parallel
   device branches cannot race to create two parents) and hands its id downstream.
3. Neither: a stand-alone CLI stage; we open a parent for the ``pipeline_run_id`` we are given
   (or a fresh id) and nest under it.

All calls go through an explicit :class:`mlflow.MlflowClient` (no fluent global state: stages may
run in threads) and :func:`with_retries`, so a tracking server that blips recovers and one that
is down fails with one clear :class:`TrackingError` instead of a stack of HTTP errors.
Every param and tag passes :func:`redact` first: secrets must never land in MLflow.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from decig.core.errors import TrackingError  # noqa: F401  (defined in decig.core.errors; re-exported here)
from decig.core.log import get_logger

log = get_logger(__name__)
T = TypeVar("T")

# Same tag keys as the KFP MLflow plugin, so runs from both paths look alike in the UI and queries.
KFP_RUN_ID_TAG = "kfp.pipeline_run_id"
KFP_RUN_URL_TAG = "kfp.pipeline_run_url"
KFP_PIPELINE_ID_TAG = "kfp.pipeline_id"
KFP_PIPELINE_VERSION_TAG = "kfp.pipeline_version_id"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag

_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|credential|auth)", re.I)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.I)


def default_tracking_uri(configured: str | None, workdir: str | Path = ".") -> str:
    """Config beats env; the embedded default is a sqlite file in the working directory."""
    if configured:
        return configured
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(workdir).resolve() / 'mlflow.db'}"


def redact(value: Any, key: str = "") -> Any:
    """Mask secret-looking keys and credentials embedded in URLs, recursively."""
    if key and _SECRET_KEY.search(key):
        return "***"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(r"\g<scheme>***@", value)
    return value


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``a.b.c`` params; lists as JSON (MLflow params are strings <= 6000 chars)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        else:
            text = json.dumps(v) if isinstance(v, (list, tuple, bool)) or v is None else str(v)
            out[name] = text[:6000]
    return out


def with_retries(fn: Callable[[], T], *, what: str, attempts: int = 4, base_delay: float = 1.0) -> T:
    """Call ``fn``; on connection-type failures retry with exponential backoff, then fail clearly."""
    from mlflow.exceptions import MlflowException

    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (MlflowException, OSError, ConnectionError) as err:
            # A 4xx-type MlflowException (bad request, not found) will not heal by retrying.
            code = getattr(err, "error_code", "")
            if code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS"):
                raise
            last = err
            if attempt < attempts:
                delay = base_delay * 2 ** (attempt - 1)
                log.warning("%s failed (attempt %d/%d): %s; retrying in %.1fs", what, attempt, attempts,
                            redact(str(err))[:200], delay)
                time.sleep(delay)
    raise TrackingError(f"{what} failed after {attempts} attempts: {redact(str(last))[:500]}")


@dataclass
class StageRun:
    """A handle on the MLflow run one stage logs into."""

    client: Any
    run_id: str
    parent_run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten(redact(params))
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit for params
            chunk = items[i : i + 100]
            with_retries(lambda c=chunk: self.client.log_batch(self.run_id, params=c), what="log params")

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items() if v is not None]
        if items:
            with_retries(lambda: self.client.log_batch(self.run_id, metrics=items), what="log metrics")

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(redact(v, k))) for k, v in tags.items() if v is not None]
        if items:
            with_retries(lambda: self.client.log_batch(self.run_id, tags=items), what="set tags")

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        p = Path(path)
        if p.is_dir():
            with_retries(lambda: self.client.log_artifacts(self.run_id, str(p), artifact_path), what=f"upload {p}")
        else:
            with_retries(lambda: self.client.log_artifact(self.run_id, str(p), artifact_path), what=f"upload {p}")

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        with_retries(lambda: self.client.log_dict(self.run_id, redact(data), artifact_file), what=f"log {artifact_file}")


def _experiment_id(client: Any, name: str) -> str:
    exp = with_retries(lambda: client.get_experiment_by_name(name), what=f"look up experiment {name}")
    if exp is not None:
        return exp.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name)
    except MlflowException:
        # Another stage created it between our lookup and create.
        return client.get_experiment_by_name(name).experiment_id


def open_parent_run(
    client: Any, experiment: str, pipeline_run_id: str, run_name: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    """Find the parent run tagged with ``pipeline_run_id`` or create it; returns its run id."""
    exp_id = _experiment_id(client, experiment)
    found = with_retries(
        lambda: client.search_runs(
            [exp_id], filter_string=f"tags.`{KFP_RUN_ID_TAG}` = '{pipeline_run_id}' and tags.`decig.role` = 'pipeline'",
            max_results=1,
        ),
        what="search parent run",
    )
    if found:
        return found[0].info.run_id
    all_tags = {KFP_RUN_ID_TAG: pipeline_run_id, "decig.role": "pipeline", **(tags or {})}
    run = with_retries(
        lambda: client.create_run(exp_id, run_name=run_name or f"pipeline-{pipeline_run_id[:8]}",
                                  tags={k: str(redact(v, k)) for k, v in all_tags.items()}),
        what="create parent run",
    )
    return run.info.run_id


@contextmanager
def stage_run(
    *,
    tracking_uri: str,
    experiment: str,
    stage: str,
    device: str | None = None,
    pipeline_run_id: str | None = None,
    parent_run_id: str | None = None,
) -> Iterator[StageRun]:
    """Open (or adopt) the run this stage logs into; marks it FINISHED or FAILED on exit."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    injected = os.environ.get("MLFLOW_RUN_ID")
    if injected:
        # The KFP plugin owns this run's lifecycle; we only add to it.
        run = StageRun(client, injected, None)
        run.set_tags({"decig.stage": stage, "decig.devices": device})
        yield run
        return

    pipeline_run_id = pipeline_run_id or f"local-{uuid.uuid4().hex[:12]}"
    if parent_run_id is None:
        parent_run_id = open_parent_run(client, experiment, pipeline_run_id)
    exp_id = _experiment_id(client, experiment)
    name = f"{stage}-{device}" if device else stage
    tags = {PARENT_RUN_TAG: parent_run_id, KFP_RUN_ID_TAG: pipeline_run_id, "decig.stage": stage}
    if device:
        tags["decig.devices"] = device
    created = with_retries(lambda: client.create_run(exp_id, run_name=name, tags=tags), what=f"create run {name}")
    run = StageRun(client, created.info.run_id, parent_run_id)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        try:
            with_retries(lambda: client.set_terminated(run.run_id, status), what=f"close run {name}", attempts=2)
        except TrackingError as err:  # never mask the stage's own exception with a tracking one
            log.error("%s", err)
