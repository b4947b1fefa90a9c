"""Talk to a Kubeflow Pipelines API: upload the compiled pipeline as a new version, start runs,
and make the recurring runs match ``configs/schedules.yaml``.

Every function takes the ``kfp.Client`` (or anything with its methods) as an argument, so the
CLI builds the real client from ``--host`` and tests pass a recording fake of the remote API.
Inputs are validated before the first call, so a bad file never leaves a half-applied cluster.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decig import __version__
from decig.config import DecigConfig
from decig.core.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class UploadedVersion:
    pipeline_id: str
    version_id: str
    version_name: str


def make_client(host: str, namespace: str | None = None) -> Any:
    """The real client (token/cookies from the environment as kfp.Client reads them)."""
    import kfp

    return kfp.Client(host=host, namespace=namespace)


def version_name(package: Path) -> str:
    """Content-addressed: the same compiled YAML always gets the same version name."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
    return f"v{__version__}-{digest}"


def run_parameters(cfg: DecigConfig, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pipeline's run parameters for a validated config (overrides are already inside it)."""
    params: dict[str, Any] = {"config_json": json.dumps(cfg.to_dict()), "devices": list(cfg.devices),
                              "method": cfg.method}
    params.update(extra or {})
    return params


def _find_version(client: Any, pipeline_id: str, name: str) -> str | None:
    token = ""
    while True:
        resp = client.list_pipeline_versions(pipeline_id=pipeline_id, page_token=token, page_size=100)
        for v in resp.pipeline_versions or []:
            if v.display_name == name:
                return v.pipeline_version_id
        token = resp.next_page_token or ""
        if not token:
            return None


def upload_version(client: Any, package: str | Path, *, pipeline_name: str = "decig") -> UploadedVersion:
    """Upload ``package`` as a version of ``pipeline_name`` (creating the pipeline on first use).

    Idempotent: an identical package already uploaded is reused, not uploaded twice.
    """
    package = Path(package)
    name = version_name(package)
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(pipeline_package_path=str(package), pipeline_name=pipeline_name,
                                             description="decig: DECIG compression per target device").pipeline_id
    existing = _find_version(client, pipeline_id, name)
    if existing is not None:
        log.info("pipeline %s version %s already uploaded", pipeline_name, name)
        return UploadedVersion(pipeline_id, existing, name)
    version = client.upload_pipeline_version(pipeline_package_path=str(package), pipeline_version_name=name,
                                             pipeline_id=pipeline_id)
    return UploadedVersion(pipeline_id, version.pipeline_version_id, name)


def submit(client: Any, package: str | Path, params: dict[str, Any], *, pipeline_name: str = "decig",
           experiment: str = "decig", run_name: str | None = None, namespace: str | None = None) -> dict[str, str]:
    """Upload the version and start one run of it; returns the ids."""
    version = upload_version(client, package, pipeline_name=pipeline_name)
    exp = client.create_experiment(name=experiment, namespace=namespace)
    name = run_name or f"{pipeline_name}-{version.version_name}"
    run = client.run_pipeline(experiment_id=exp.experiment_id, job_name=name, params=params,
                              pipeline_id=version.pipeline_id, version_id=version.version_id)
    return {"pipeline_id": version.pipeline_id, "version_id": version.version_id, "version": version.version_name,
            "experiment_id": exp.experiment_id, "run_id": run.run_id}


def apply_schedules(client: Any, package: str | Path, schedule_file: Any, *, namespace: str | None = None) -> list[dict[str, str]]:
    """Make the experiment's recurring runs match the file: one per entry, replaced when it exists.

    Each run is pinned to the uploaded pipeline *version* (a later upload never changes what a
    schedule runs until the file is applied again), ``max_concurrency=1`` (a slow night never
    overlaps the next) and ``no_catchup=True`` (a paused schedule does not replay missed nights).
    """
    from decig.config import load_config

    # Resolve every config first: a bad entry must fail before the cluster changes.
    configs = {s.name: load_config(schedule_file.config, [*s.overrides, f"devices=[{s.device}]"])
               for s in schedule_file.schedules}
    version = upload_version(client, package, pipeline_name=schedule_file.pipeline)
    exp = client.create_experiment(name=schedule_file.experiment, namespace=namespace)
    existing = _recurring_runs_by_name(client, exp.experiment_id, namespace)
    applied = []
    for s in schedule_file.schedules:
        if s.name in existing:
            client.delete_recurring_run(existing[s.name])
        params = run_parameters(configs[s.name], extra=schedule_file.params)
        rr = client.create_recurring_run(
            experiment_id=exp.experiment_id, job_name=s.name, description=f"decig nightly for {s.device}",
            cron_expression=s.cron, max_concurrency=1, no_catchup=True, params=params,
            pipeline_id=version.pipeline_id, version_id=version.version_id, enabled=s.enabled,
        )
        applied.append({"name": s.name, "device": s.device, "cron": s.cron, "recurring_run_id": rr.recurring_run_id,
                        "version": version.version_name, "replaced": str(s.name in existing).lower()})
    return applied


def _recurring_runs_by_name(client: Any, experiment_id: str, namespace: str | None) -> dict[str, str]:
    found, token = {}, ""
    while True:
        resp = client.list_recurring_runs(page_token=token, page_size=100, experiment_id=experiment_id,
                                          namespace=namespace)
        for rr in resp.recurring_runs or []:
            found[rr.display_name] = rr.recurring_run_id
        token = resp.next_page_token or ""
        if not token:
            return found
