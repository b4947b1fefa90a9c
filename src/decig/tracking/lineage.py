"""What every run records so it can be audited and re-run: code, data, config, seeds, packages.

The record is plain JSON written next to a stage's outputs (``run_record.json``) and, when
tracking is on, attached to the MLflow run. Reproducing a run needs exactly these fields:
the git SHA (plus whether the tree was dirty, in which case exact reproduction is not promised),
the resolved config, the data md5, the seeds and the package versions.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

RECORD_SCHEMA_VERSION = 1

# The packages whose versions change numbers: the numerical stack and the pipeline tooling.
TRACKED_PACKAGES = (
    "decig", "torch", "torchvision", "numpy", "pillow", "torch-pruning", "torch-fidelity",
    "onnx", "onnxruntime", "kfp", "mlflow", "dvc",
)


def git_info(path: str | Path = ".") -> dict[str, Any]:
    """SHA and dirty flag of the checkout holding ``path``.

    Inside a container there is no .git: the image build bakes the SHA into ``DECIG_GIT_SHA``
    (and ``DECIG_GIT_DIRTY``), which is used when git cannot answer.
    """

    def _git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    sha = _git("rev-parse", "HEAD")
    if sha:
        status = _git("status", "--porcelain", "--untracked-files=no")
        return {"sha": sha, "dirty": bool(status), "source": "git"}
    env_sha = os.environ.get("DECIG_GIT_SHA")
    if env_sha:
        return {"sha": env_sha, "dirty": os.environ.get("DECIG_GIT_DIRTY", "false") == "true", "source": "image"}
    return {"sha": "unknown", "dirty": True, "source": "none"}


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not-installed"
    return versions


def environment_facts() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname_hash": _short_hash(platform.node()),  # identifies the host without leaking its name
        "image": os.environ.get("DECIG_IMAGE"),
        "image_digest": os.environ.get("DECIG_IMAGE_DIGEST"),
    }


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_run_record(
    *,
    stage: str,
    config: dict[str, Any],
    config_hash: str,
    seed: int,
    data_md5: str | None,
    inputs: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    repo_path: str | Path = ".",
) -> dict[str, Any]:
    """Everything needed to audit and re-run one stage execution."""
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "stage": stage,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_info(repo_path),
        "config_hash": config_hash,
        "config": config,
        "seed": seed,
        "data_md5": data_md5,
        "inputs": inputs or {},
        "packages": package_versions(),
        "environment": environment_facts(),
        "command": sys.argv,
        **({"extra": extra} if extra else {}),
    }


def write_run_record(record: dict[str, Any], out_dir: str | Path, name: str = "run_record.json") -> Path:
    out = Path(out_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    tmp.replace(out)
    return out
