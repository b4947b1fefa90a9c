"""``decig reproduce``: re-run one tracked training stage from its MLflow record and compare outputs.

Everything comes from the run: the resolved config (``outputs/config.resolved.yaml``, checked
against the recorded config hash), the inputs (``inputs/<name>`` artifacts when the stage
uploaded them, else the recorded local paths), the torch thread count (it changes float
summation order). The stage function is called again into a fresh directory.

Verdict: on CPU, training is bit-deterministic for a fixed seed and thread count, so the
reproduced generator's sha256 must equal the sha256 of the *stored* weights file (hashed after
download, not read from its ``.sha256`` companion, so a tampered artifact is caught). On an
accelerator, kernels are not bit-exact, so final metrics must agree within a relative tolerance.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from decig.core.errors import TrackingError
from decig.core.log import get_logger
from decig.tracking.mlflow_runs import with_retries
from decig.tracking.stage_tracking import INPUTS_PATH, OUTPUTS_PATH, TAG_DATA_MD5, TAG_STAGE, TAG_THREADS

log = get_logger(__name__)

# Stage -> (weights directory in its outputs, input names in the order the stage function takes them).
REPRODUCIBLE = {
    "stage1": ("generator", ("data_root", "profile")),
    "finetune": ("generator", ("stage1", "prune", "data_root")),
}
# Results that measure the machine, not the model; never compared.
_TIMING = ("time", "_s", "per_s", "elapsed", "_sha256")


def _artifact_names(client: Any, run_id: str, path: str) -> dict[str, bool]:
    files = with_retries(lambda: client.list_artifacts(run_id, path), what=f"list {path}")
    return {f.path: f.is_dir for f in files}


def _resolve_input(client: Any, run_id: str, tags: dict[str, str], name: str, recorded: str | None,
                   workdir: Path) -> Path | None:
    if recorded in (None, "", "None"):
        return None
    uploaded = _artifact_names(client, run_id, INPUTS_PATH)
    if f"{INPUTS_PATH}/{name}" in uploaded:
        local = Path(with_retries(lambda: client.download_artifacts(run_id, f"{INPUTS_PATH}/{name}", str(workdir)),
                                  what=f"download input {name}"))
        kind = tags.get(f"decig.input.{name}", "dir")
        return local if kind == "dir" else local / kind
    path = Path(recorded)
    if path.exists():
        log.info("input %s not uploaded to the run; using the recorded local path %s", name, path)
        return path
    raise TrackingError(f"input {name!r} of run {run_id} was not uploaded and {path} does not exist here")


def compare_metrics(original: dict[str, float], reproduced: dict[str, Any], rel_tol: float) -> dict[str, Any]:
    """Relative differences of the final numeric results both runs have (timings excluded)."""
    diffs: dict[str, Any] = {}
    for key, value in reproduced.items():
        if key not in original or any(t in key for t in _TIMING):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        a, b = float(original[key]), float(value)
        if not (math.isfinite(a) and math.isfinite(b)):
            ok = (math.isnan(a) and math.isnan(b)) or a == b
            diffs[key] = {"original": a, "reproduced": b, "rel_diff": None, "ok": ok}
            continue
        rel = abs(a - b) / max(abs(a), abs(b), 1e-12)
        diffs[key] = {"original": a, "reproduced": b, "rel_diff": rel, "ok": rel <= rel_tol}
    return diffs


def reproduce_run(run_id: str, *, tracking_uri: str | None = None, workdir: str | Path | None = None,
                  rel_tol: float = 0.05) -> dict[str, Any]:
    """Re-run ``run_id``'s stage; returns the verdict (``match``) with the evidence."""
    import torch
    from mlflow.exceptions import MlflowException

    from decig import stages
    from decig.config import load_config
    from decig.models.persistence import WEIGHTS_FILE, sha256_file
    from decig.tracking.audit import read_run_record
    from decig.tracking.stage_tracking import _client, resolve_uri

    client = _client(resolve_uri(None, tracking_uri))
    if run_id.startswith("models:/"):
        from decig.tracking.audit import resolve_ref

        _, version = resolve_ref(client, run_id)
        source = version.tags.get("source_run_id")
        if source in (None, "none"):
            raise TrackingError(f"{run_id} (version {version.version}) does not name the training run that "
                                "produced it; pass that run's id")
        run_id = source
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise TrackingError(f"run {run_id}: {err.message}") from None
    tags = run.data.tags
    stage = tags.get(TAG_STAGE)
    if stage not in REPRODUCIBLE:
        raise TrackingError(f"run {run_id} is a {stage!r} run; reproduce supports {', '.join(REPRODUCIBLE)}")
    record = read_run_record(client, run_id)
    if record is None:
        raise TrackingError(f"run {run_id} has no {OUTPUTS_PATH}/run_record.json; it cannot be reproduced")
    weights_dir, input_names = REPRODUCIBLE[stage]

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"decig-reproduce-{run_id[:8]}-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = Path(with_retries(lambda: client.download_artifacts(run_id, f"{OUTPUTS_PATH}/config.resolved.yaml",
                                                                   str(work / "original")),
                                 what="download resolved config"))
    cfg = load_config(cfg_path)
    if cfg.config_hash() != record["config_hash"]:
        raise TrackingError(f"resolved config of run {run_id} hashes to {cfg.config_hash()}, record says "
                            f"{record['config_hash']}: the stored config was changed")
    inputs = [_resolve_input(client, run_id, tags, n, record["inputs"].get(n), work / "inputs") for n in input_names]
    warnings: list[str] = []
    if record["git"].get("dirty"):
        warnings.append("the original run came from a dirty git tree; its code may differ from any commit")
    from decig.tracking.lineage import git_info

    if git_info()["sha"] != record["git"]["sha"]:
        warnings.append(f"code differs: now {git_info()['sha']}, recorded {record['git']['sha']}")
    data_md5 = tags.get(TAG_DATA_MD5) or record.get("data_md5")
    data_idx = input_names.index("data_root")
    if data_md5 and inputs[data_idx] is not None:
        from decig.data.lineage import dvc_dir_md5

        now_md5 = dvc_dir_md5(inputs[data_idx])
        if now_md5 != data_md5:
            warnings.append(f"data md5 differs: now {now_md5}, recorded {data_md5}")

    threads = int(tags.get(TAG_THREADS) or 1)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = work / "reproduced"
    try:
        if stage == "stage1":
            result = stages.stage1(cfg, inputs[0], inputs[1], out)
        else:
            result = stages.finetune(cfg, inputs[0], inputs[1], inputs[2], out)
    finally:
        torch.set_num_threads(old_threads)

    original_weights = Path(with_retries(
        lambda: client.download_artifacts(run_id, f"{OUTPUTS_PATH}/{weights_dir}/{WEIGHTS_FILE}", str(work / "original")),
        what="download original weights"))
    train_device = getattr(cfg, stage).device
    on_cpu = train_device == "cpu" or not torch.cuda.is_available()
    original_sha, new_sha = sha256_file(original_weights), sha256_file(out / weights_dir / WEIGHTS_FILE)
    diffs = compare_metrics(run.data.metrics, result, rel_tol)
    if on_cpu:
        method, match = "weights_sha256", original_sha == new_sha
    else:
        method, match = "metrics", bool(diffs) and all(d["ok"] for d in diffs.values())
    return {
        "run_id": run_id, "stage": stage, "match": match, "method": method, "threads": threads,
        "original_sha256": original_sha, "reproduced_sha256": new_sha, "metrics": diffs, "rel_tol": rel_tol,
        "warnings": warnings, "outputs": str(out),
    }
