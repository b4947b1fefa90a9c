"""What a profile was measured on: enough to judge whether it transfers to another machine."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from decig.devices.spec import DeviceSpec


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` reports."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_facts(spec: DeviceSpec, threads: int | None) -> dict[str, Any]:
    """Host, software and device facts; ``threads`` is the intra-op thread count used (None: not timed)."""
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "threads": threads,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cuda_device": torch.cuda.get_device_name(spec.index) if spec.kind == "cuda" else None,
        "cuda_runtime": torch.version.cuda if spec.kind == "cuda" else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
