"""Model registry: register a compressed generator as ``@candidate``, promote through the gate, roll back.

One registered model per experiment and target device (``<experiment>-<device>``). A version is
created only after its artifacts (pyfunc generator + ONNX export + evaluation report) are
uploaded and listed back from the store, and it is created *with* all its tags in one call, so a
version is never half-registered; aliases are set only on such complete versions.

Aliases: ``@candidate`` is the newest registered version; ``@champion`` the one serving;
``@previous`` the champion before it (what ``rollback`` restores). Every gate decision writes its
summary, reasons and numbers to the candidate version's tags and a JSON file on its run.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from decig.core.errors import EvaluationError, TrackingError
from decig.core.log import get_logger
from decig.tracking.gate import GateDecision, GatePolicy, decide
from decig.tracking.mlflow_runs import redact, with_retries
from decig.tracking.stage_tracking import (
    TAG_DATA_MD5,
    TAG_IMAGE_DIGEST,
    TAG_OUT_DIR,
    experiment_name,
    resolve_uri,
    track_stage,
)

log = get_logger(__name__)

CANDIDATE, CHAMPION, PREVIOUS = "candidate", "champion", "previous"
MODEL_ARTIFACT = "model"
# Version tag -> gate metric key (decig.tracking.gate.decide reads these keys).
GATE_METRIC_TAGS = {
    "fid": "fid",
    "kid": "kid",
    "psnr": "psnr",
    "latency_p50_ms": "latency_p50_ms",
    "speedup_vs_vanilla": "speedup_vs_vanilla",
    "params": "params",
    "params_ratio": "params_ratio",
    "parity_max_abs_diff": "parity_max_abs_diff",
}


def registered_model_name(cfg: Any, device: str) -> str:
    # Registered model names are free text in MLflow, but aliases/URIs read better without '/' or ':'.
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{experiment_name(cfg)}-{device}")


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _row_for(metrics: dict[str, Any], model_dir: Path) -> tuple[str, dict[str, Any]]:
    """The evaluation row whose source is ``model_dir`` (evaluation may hold several models)."""
    target = model_dir.resolve()
    for name, row in metrics.get("models", {}).items():
        if Path(row.get("source", "")).resolve() == target:
            return name, row
    known = {n: r.get("source") for n, r in metrics.get("models", {}).items()}
    raise EvaluationError(f"{model_dir} was not evaluated in this evaluation output; it has {known}")


def candidate_metrics(metrics: dict[str, Any], model_dir: Path, export: dict[str, Any] | None) -> dict[str, Any]:
    """The gate's numbers for one evaluated model (None when not measured)."""
    name, row = _row_for(metrics, model_dir)
    base = metrics["models"].get(metrics.get("baseline") or "", row)
    fid = row.get("fid") or {}
    eager = (row.get("latency") or {}).get("eager") or {}
    parity = None
    if export:
        diffs = [r["max_abs_diff"] for r in export.get("exports", []) if r.get("format") == "onnx"]
        parity = max(diffs) if diffs else None
    params = row["cost"]["params"]
    return {
        "evaluated_as": name,
        "fid": fid.get("fid"),
        "kid": fid.get("kid_mean"),
        "psnr": row["quality"].get("psnr_db"),
        "latency_p50_ms": eager.get("median_ms"),
        "speedup_vs_vanilla": eager.get("speedup_vs_baseline"),
        "params": params,
        "params_ratio": params / base["cost"]["params"],
        "parity_max_abs_diff": parity,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _check_inputs(model_dir: Path, eval_dir: Path, export_dir: Path | None) -> None:
    from decig.models.persistence import load_model

    if not (eval_dir / "metrics.json").is_file():
        raise EvaluationError(f"{eval_dir / 'metrics.json'} not found (an evaluation stage output is expected)")
    load_model(model_dir)  # manifest + checksum verified before anything is uploaded
    if export_dir is not None and not (export_dir / "export.json").is_file():
        raise TrackingError(f"{export_dir / 'export.json'} not found (an incomplete or missing export)")


def register_candidate(
    cfg: Any,
    *,
    device: str,
    model_dir: str | Path,
    eval_dir: str | Path,
    export_dir: str | Path | None = None,
    parent_run_id: str | None = None,
    tracking_uri: str | None = None,
    auto_promote: bool = False,
    pipeline_run_id: str | None = None,
    image_digest: str | None = None,
) -> dict[str, Any]:
    """Log the generator (pyfunc) + ONNX export, register a version, set ``@candidate``; maybe promote."""
    import mlflow.pyfunc

    from decig import __version__
    from decig.export.bundle import export_saved_model
    from decig.config import save_resolved_config
    from decig.tracking.lineage import build_run_record, git_info, write_run_record
    from decig.models.persistence import read_manifest
    from decig.tracking.pyfunc_model import GENERATOR_ARTIFACT, ONNX_ARTIFACT, GeneratorModel, tensor_signature

    model_dir, eval_dir = Path(model_dir), Path(eval_dir)
    export_path = Path(export_dir) if export_dir is not None else None
    _check_inputs(model_dir, eval_dir, export_path)
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    manifest = read_manifest(model_dir)
    uri = resolve_uri(cfg, tracking_uri)
    name = registered_model_name(cfg, device)

    with tempfile.TemporaryDirectory(prefix="decig-register-") as tmp:
        if export_path is None or not (export_path / "model.onnx").is_file():
            # The version always carries an ONNX file with a parity record, so parity can be gated.
            export_path = Path(tmp) / "export"
            export_saved_model(model_dir, export_path, formats=("onnx",))
        export = json.loads((export_path / "export.json").read_text())
        numbers = candidate_metrics(metrics, model_dir, export)
        eval_record = eval_dir / "run_record.json"
        record = json.loads(eval_record.read_text()) if eval_record.is_file() else {}

        with track_stage(cfg, "register", device=device, parent_run_id=parent_run_id,
                         pipeline_run_id=pipeline_run_id, tracking_uri=uri) as tracker:
            client = tracker.client
            data_md5 = record.get("data_md5") or _parent_tag(client, tracker.parent_run_id, TAG_DATA_MD5)
            local_model = Path(tmp) / MODEL_ARTIFACT
            mlflow.pyfunc.save_model(
                path=str(local_model), python_model=GeneratorModel(),
                artifacts={GENERATOR_ARTIFACT: str(model_dir), ONNX_ARTIFACT: str(export_path / "model.onnx")},
                # Explicit requirements: inference would import-scan in a subprocess (slow) and guess.
                pip_requirements=[f"decig=={__version__}"],
                signature=tensor_signature(manifest.input_nc, manifest.output_nc),
            )
            (local_model / "export.json").write_text(json.dumps(export, indent=2))
            tracker._run.log_artifact(local_model, MODEL_ARTIFACT)
            tracker._run.log_artifact(eval_dir / "metrics.json", "evaluation")
            for report in ("report.md", "report.html"):
                if (eval_dir / report).is_file():
                    tracker._run.log_artifact(eval_dir / report, "evaluation")
            _verify_uploaded(client, tracker.run_id)
            # The registration run gets its own lineage record, so auditing a model version
            # (whose source run is this one) finds packages, seed and config like any stage.
            rec_dir = Path(tmp) / "record"
            save_resolved_config(cfg, rec_dir)
            write_run_record(build_run_record(
                stage="register", config=cfg.to_dict(), config_hash=cfg.config_hash(), seed=cfg.seed,
                data_md5=data_md5, inputs={"model_dir": str(model_dir), "eval_dir": str(eval_dir),
                                           "export_dir": str(export_dir) if export_dir else "None"},
            ), rec_dir)
            tracker.finish({k: v for k, v in numbers.items() if k != "evaluated_as"}, rec_dir)

            sha = (model_dir / "model.pt.sha256").read_text().split()[0]
            run = client.get_run(tracker.run_id)
            producer = _producing_run(client, run.info.experiment_id, model_dir)
            tags = {
                **{tag: _fmt(numbers[key]) for tag, key in GATE_METRIC_TAGS.items()},
                "evaluated_as": numbers["evaluated_as"],
                "weights_sha256": sha,
                "data_md5": _fmt(data_md5),
                "git_sha": git_info()["sha"],
                "config_hash": cfg.config_hash(),
                "pipeline_run_id": _fmt(pipeline_run_id or _parent_tag(client, tracker.parent_run_id,
                                                                        "kfp.pipeline_run_id")),
                "image_digest": _fmt(image_digest or _parent_tag(client, tracker.run_id, TAG_IMAGE_DIGEST)),
                "device": device,
                "source_run_id": _fmt(producer),  # the training run `decig reproduce models:/...` re-runs
                "gate_decision": "pending",
            }
            tracker.set_tags({"decig.registered_model": name})
            source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT}"
            _ensure_registered_model(client, name, cfg, device)
            version = with_retries(
                lambda: client.create_model_version(name, source, run_id=tracker.run_id,
                                                    tags={k: str(redact(v, k)) for k, v in tags.items()}),
                what=f"create version of {name}",
            )
            with_retries(lambda: client.set_registered_model_alias(name, CANDIDATE, version.version),
                         what=f"set @{CANDIDATE}")
            tracker.set_tags({"decig.model_version": version.version})
    log.info("registered %s version %s as @%s", name, version.version, CANDIDATE)

    out: dict[str, Any] = {"name": name, "version": version.version, "alias": CANDIDATE, "gate": None,
                           "promoted": False, "run_id": tracker.run_id}
    if auto_promote:
        decision = promote(name, version.version, policy=gate_policy(cfg), tracking_uri=uri)
        out.update(gate=decision.to_dict(), promoted=decision.promote)
    return out


def gate_policy(cfg: Any) -> GatePolicy:
    gate = getattr(cfg, "gate", None)
    if gate is None:
        return GatePolicy()
    return GatePolicy(**gate.model_dump(exclude={"auto_promote"}))


def _parent_tag(client: Any, run_id: str | None, key: str) -> str | None:
    if not run_id:
        return None
    run = with_retries(lambda: client.get_run(run_id), what="read run tags")
    return run.data.tags.get(key)


def _producing_run(client: Any, experiment_id: str, model_dir: Path) -> str | None:
    """The newest tracked stage run whose output directory holds ``model_dir`` (None if untracked)."""
    out_dir = str(model_dir.resolve().parent)
    if "'" in out_dir:  # cannot be quoted in an MLflow filter; the tag is only a convenience
        return None
    found = with_retries(lambda: client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_OUT_DIR}` = '{out_dir}'", order_by=["attributes.start_time DESC"],
        max_results=1), what="find the producing run")
    return found[0].info.run_id if found else None


def _verify_uploaded(client: Any, run_id: str) -> None:
    """The artifact store must list the model's files before a version may point at them."""
    names = {f.path for f in with_retries(lambda: client.list_artifacts(run_id, MODEL_ARTIFACT), what="list artifacts")}
    missing = {f"{MODEL_ARTIFACT}/MLmodel", f"{MODEL_ARTIFACT}/artifacts"} - names
    if missing:
        raise TrackingError(f"model artifacts were not stored (missing {sorted(missing)}); nothing registered")


def _ensure_registered_model(client: Any, name: str, cfg: Any, device: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(
                name, tags={"decig.experiment": experiment_name(cfg), "decig.devices": device},
                description=f"DECIG-compressed generator of experiment {experiment_name(cfg)} for {device}",
            )
        except MlflowException as err:
            if getattr(err, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise TrackingError(f"cannot create registered model {name}: {err}") from None


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if getattr(err, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise TrackingError(f"cannot read alias @{alias} of {name}: {err}") from None


def version_metrics(version: Any) -> dict[str, Any]:
    """The gate's numbers back from a version's tags ('none' -> None; NaN stays NaN and fails the gate)."""
    out: dict[str, Any] = {}
    for tag, key in GATE_METRIC_TAGS.items():
        raw = version.tags.get(tag)
        if raw is None or raw == "none":
            out[key] = None
            continue
        try:
            out[key] = float(raw)
        except ValueError:
            out[key] = raw
    return out


def promote(name: str, version: str | int | None = None, *, policy: GatePolicy,
            tracking_uri: str | None = None) -> GateDecision:
    """Move ``@champion`` to ``version`` (default: ``@candidate``) only if the gate passes.

    The old champion becomes ``@previous``. The decision, its reasons and the numbers compared are
    written to the candidate version's tags (and a ``gate/`` JSON on its run) whatever the outcome.
    """
    from mlflow.exceptions import MlflowException

    client = _client(resolve_uri(None, tracking_uri))
    try:
        if version is None:
            cand = _alias_version(client, name, CANDIDATE)
            if cand is None:
                raise TrackingError(f"{name} has no @{CANDIDATE} version; pass --version")
        else:
            cand = with_retries(lambda: client.get_model_version(name, str(version)), what=f"read {name} v{version}")
    except MlflowException as err:
        raise TrackingError(f"cannot read model {name} version {version}: {err.message}") from None
    champ = _alias_version(client, name, CHAMPION)
    same = champ is not None and champ.version == cand.version
    champ_numbers = version_metrics(champ) if champ is not None and not same else None
    decision = decide(version_metrics(cand), champ_numbers, policy)

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    reasons = "\n".join(decision.reasons)
    tags = {
        "gate_decision": decision.summary(),
        "gate_reasons": reasons[:5000],
        "gate_compared_with": f"v{champ.version}" if champ_numbers is not None else "none",
        "gate_policy": json.dumps(policy.model_dump()),
        "gate_decided_utc": now,
    }
    for key, value in tags.items():
        with_retries(lambda k=key, v=value: client.set_model_version_tag(name, cand.version, k, v),
                     what=f"tag {name} v{cand.version}")
    if cand.run_id:
        record = {"name": name, "version": cand.version, "decided_utc": now, "policy": policy.model_dump(),
                  "candidate": version_metrics(cand), "champion": champ_numbers,
                  "champion_version": champ.version if champ else None, **decision.to_dict()}
        try:
            with_retries(lambda: client.log_dict(cand.run_id, record, f"gate/decision-v{cand.version}-{now}.json"),
                         what="log gate decision")
        except TrackingError as err:  # the tags already hold the decision; the file is a convenience
            log.warning("%s", err)

    if decision.promote and not same:
        if champ is not None:
            with_retries(lambda: client.set_registered_model_alias(name, PREVIOUS, champ.version), what="set @previous")
        with_retries(lambda: client.set_registered_model_alias(name, CHAMPION, cand.version), what="set @champion")
        log.info("%s v%s is @%s (previous: %s)", name, cand.version, CHAMPION, champ.version if champ else "none")
    elif not decision.promote:
        log.warning("%s v%s not promoted: %s", name, cand.version, decision.summary())
    return decision


def rollback(name: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Restore ``@previous`` as ``@champion``; the rolled-back version becomes ``@previous``."""
    client = _client(resolve_uri(None, tracking_uri))
    prev = _alias_version(client, name, PREVIOUS)
    if prev is None:
        raise TrackingError(f"{name} has no @{PREVIOUS} version to roll back to")
    champ = _alias_version(client, name, CHAMPION)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with_retries(lambda: client.set_registered_model_alias(name, CHAMPION, prev.version), what="set @champion")
    if champ is not None and champ.version != prev.version:
        with_retries(lambda: client.set_registered_model_alias(name, PREVIOUS, champ.version), what="set @previous")
        client.set_model_version_tag(name, champ.version, "rolled_back_utc", now)
    client.set_model_version_tag(name, prev.version, "restored_utc", now)
    return {"name": name, "champion": prev.version, "previous": champ.version if champ else None}
