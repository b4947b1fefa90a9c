"""``decig audit``: the complete lineage of a tracked run or a registered model version.

Gathers, from the MLflow run (its tags, its ``outputs/run_record.json`` artifact, its parent
pipeline run) and, for ``models:/name@alias`` or ``models:/name/version``, the version's tags:
git SHA + dirty flag, data md5, config hash + resolved config, seeds, package versions, device
profile hash, image digest, parent pipeline run. Missing facts are reported as missing, never
guessed, and the record lists which ones (``missing``) so an auditor sees gaps at a glance.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from decig.core.errors import TrackingError
from decig.tracking.mlflow_runs import KFP_RUN_ID_TAG, PARENT_RUN_TAG, with_retries
from decig.tracking.stage_tracking import (
    OUTPUTS_PATH,
    RECORD_FILE,
    TAG_CONFIG_HASH,
    TAG_DATA_MD5,
    TAG_DEVICE,
    TAG_GIT_DIRTY,
    TAG_GIT_SHA,
    TAG_IMAGE_DIGEST,
    TAG_PROFILE_HASH,
    TAG_SEED,
    TAG_STAGE,
    TAG_THREADS,
)

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
REQUIRED = ("git_sha", "git_dirty", "data_md5", "config_hash", "config", "seed", "packages",
            "device_profile_hash", "image_digest", "pipeline_run")


def resolve_ref(client: Any, ref: str) -> tuple[str, Any | None]:
    """RUN_ID or models:/name@alias or models:/name/version -> (run id, model version or None)."""
    m = _MODEL_URI.match(ref)
    if ref.startswith("models:/") and not m:
        raise TrackingError(f"{ref!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    if m is None:
        return ref, None
    from mlflow.exceptions import MlflowException

    try:
        if m["alias"]:
            version = client.get_model_version_by_alias(m["name"], m["alias"])
        else:
            version = client.get_model_version(m["name"], m["version"])
    except MlflowException as err:
        raise TrackingError(f"{ref}: {err.message}") from None
    if not version.run_id:
        raise TrackingError(f"{ref} (version {version.version}) has no source run to audit")
    return version.run_id, version


def read_run_record(client: Any, run_id: str) -> dict[str, Any] | None:
    """The stage's run_record.json from the run's artifacts (None when the run has none)."""
    names = {f.path for f in with_retries(lambda: client.list_artifacts(run_id, OUTPUTS_PATH), what="list artifacts")}
    if f"{OUTPUTS_PATH}/{RECORD_FILE}" not in names:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = with_retries(lambda: client.download_artifacts(run_id, f"{OUTPUTS_PATH}/{RECORD_FILE}", tmp),
                             what="download run record")
        return json.loads(Path(local).read_text())


def audit_record(client: Any, ref: str) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    run_id, version = resolve_ref(client, ref)
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise TrackingError(f"run {run_id}: {err.message}") from None
    tags = run.data.tags
    record = read_run_record(client, run_id) or {}
    parent_id = tags.get(PARENT_RUN_TAG)
    parent_tags: dict[str, str] = {}
    if parent_id:
        parent_tags = client.get_run(parent_id).data.tags
    vtags = dict(version.tags) if version is not None else {}
    device = tags.get(TAG_DEVICE)
    git = record.get("git") or {}
    env = record.get("environment") or {}

    def first(*values: Any) -> Any:
        for v in values:
            if v not in (None, "", "none", "None"):
                return v
        return None

    out = {
        "ref": ref,
        "run_id": run_id,
        "run_name": run.info.run_name,
        "stage": tags.get(TAG_STAGE),
        "device": device,
        "status": run.info.status,
        "model_version": ({"name": version.name, "version": version.version, "aliases": list(version.aliases),
                           "tags": vtags} if version is not None else None),
        "git_sha": first(git.get("sha"), tags.get(TAG_GIT_SHA), vtags.get("git_sha")),
        "git_dirty": first(git.get("dirty"), tags.get(TAG_GIT_DIRTY)),
        "data_md5": first(record.get("data_md5"), tags.get(TAG_DATA_MD5), vtags.get("data_md5"),
                          parent_tags.get(TAG_DATA_MD5)),
        "config_hash": first(record.get("config_hash"), tags.get(TAG_CONFIG_HASH), vtags.get("config_hash")),
        "config": record.get("config") or _params_config(run.data.params),
        "seed": first(record.get("seed"), tags.get(TAG_SEED)),
        "torch_threads": tags.get(TAG_THREADS),
        "packages": record.get("packages"),
        "device_profile_hash": first(tags.get(TAG_PROFILE_HASH), parent_tags.get(f"{TAG_PROFILE_HASH}.{device}"),
                                     parent_tags.get(TAG_PROFILE_HASH)),
        "image_digest": first(env.get("image_digest"), tags.get(TAG_IMAGE_DIGEST), vtags.get("image_digest")),
        "pipeline_run": {"pipeline_run_id": first(tags.get(KFP_RUN_ID_TAG), parent_tags.get(KFP_RUN_ID_TAG)),
                         "parent_run_id": parent_id} if (parent_id or tags.get(KFP_RUN_ID_TAG)) else None,
        "inputs": record.get("inputs"),
        "environment": env or None,
        "command": record.get("command"),
    }
    # Image digest only exists inside a container; outside one its absence is expected, not a gap.
    out["missing"] = [k for k in REQUIRED if out.get(k) is None and not (k == "image_digest" and not env.get("image"))]
    return out


def _params_config(params: dict[str, str]) -> dict[str, Any] | None:
    """Fallback when the run has no record: the flattened config params, re-nested."""
    if not params:
        return None
    nested: dict[str, Any] = {}
    for key, value in params.items():
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return nested


def format_audit(rec: dict[str, Any]) -> str:
    """Human-readable form; the config is printed in full as YAML at the end."""
    import yaml

    lines = [f"audit of {rec['ref']}"]
    if rec["model_version"]:
        mv = rec["model_version"]
        lines.append(f"  model version : {mv['name']} v{mv['version']} aliases={','.join(mv['aliases']) or '-'}")
        for key in ("fid", "kid", "psnr", "latency_p50_ms", "speedup_vs_vanilla", "params_ratio",
                    "parity_max_abs_diff", "weights_sha256", "gate_decision"):
            if key in mv["tags"]:
                lines.append(f"    {key:<20}: {mv['tags'][key]}")
    pr = rec["pipeline_run"] or {}
    lines += [
        f"  run           : {rec['run_id']} ({rec['run_name']}, stage={rec['stage']}, device={rec['device']}, "
        f"{rec['status']})",
        f"  git           : {rec['git_sha']} (dirty: {rec['git_dirty']})",
        f"  data md5      : {rec['data_md5']}",
        f"  config hash   : {rec['config_hash']}",
        f"  seed          : {rec['seed']} (torch threads: {rec['torch_threads']})",
        f"  device profile: {rec['device_profile_hash']}",
        f"  image digest  : {rec['image_digest'] or 'not in a container'}",
        f"  pipeline run  : {pr.get('pipeline_run_id')} (parent MLflow run {pr.get('parent_run_id')})",
        f"  inputs        : {json.dumps(rec['inputs'])}",
        "  packages      : " + ", ".join(f"{k}=={v}" for k, v in (rec["packages"] or {}).items()),
        f"  missing       : {', '.join(rec['missing']) or 'nothing'}",
        "  resolved config:",
    ]
    lines += ["    " + line for line in yaml.safe_dump(rec["config"], sort_keys=False).splitlines()]
    return "\n".join(lines)
