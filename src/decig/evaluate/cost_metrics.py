"""Cost of a generator: parameters, MACs (true and paper convention), weights size, peak inference memory.

MACs come from :mod:`decig.models.cost` (true = what the convolutions compute; convention = how
thop/torchprofile and most papers count transposed convs, 4x too much at stride 2). Sizes are in
MB = 10^6 bytes of the tensors-only ``torch.save(state_dict)`` file that decig stores.

Peak memory of one batch-1 inference, picked by device name:

* CPU: measured in a fresh subprocess (:mod:`decig.evaluate.memory_probe`) as the rise of the
  kernel's resident-set high-water mark over the RSS just before the call. It counts what the OS
  had to provide (activations, workspaces, one-time runtime allocations), not what the allocator
  was asked for; ``tracemalloc`` would miss torch's C++ allocations entirely.
* CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the call, in-process
  (the caching allocator's statistics are exact; this excludes the CUDA context itself).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.core.errors import EvaluationError
from decig.evaluate.runners import execution_plan

_PROBE_TIMEOUT_S = 900


@dataclass(frozen=True)
class MemoryMeasurement:
    device: str
    method: str
    peak_mb: float  # extra memory the first inference needed (what a deployment must have free)
    steady_peak_mb: float | None  # a later call: activations and workspaces only (None if not measurable)
    details: dict[str, Any]


@dataclass(frozen=True)
class CostMetrics:
    params: int
    macs_true: int
    macs_convention: int
    weights_bytes: int
    input_size: tuple[int, int]
    memory: MemoryMeasurement | None = None

    @property
    def weights_mb(self) -> float:
        return self.weights_bytes / 1e6

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["weights_mb"] = self.weights_mb
        data["macs_note"] = "true = as computed; convention = transposed convs charged at output resolution (papers)"
        return data


def memory_method(device: str) -> str:
    """Which measurement a device name selects (see module docstring)."""
    return "cuda_max_memory_allocated" if execution_plan(device).kind == "cuda" else "cpu_rss_high_water_subprocess"


def serialized_size_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``, the format decig stores weights in."""
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in model.state_dict().items()}, buffer)
    return buffer.getbuffer().nbytes


def peak_memory_of_saved(model_dir: str | Path, *, device: str = "cpu", threads: int = 1) -> MemoryMeasurement:
    """Peak memory of one inference of a saved model directory (``save_model`` layout)."""
    if memory_method(device) == "cuda_max_memory_allocated":
        from decig.models.persistence import load_model

        model, manifest = load_model(model_dir)
        return _cuda_peak(model, (1, manifest.input_nc, *manifest.input_size), device)
    cmd = [sys.executable, "-m", "decig.evaluate.memory_probe", str(model_dir), "--threads", str(threads)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as err:
        raise EvaluationError(f"memory probe for {model_dir} did not finish within {_PROBE_TIMEOUT_S} s") from err
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise EvaluationError(f"memory probe for {model_dir} failed (exit {done.returncode}):\n{tail}")
    result = json.loads(done.stdout)
    return MemoryMeasurement(
        "cpu", "cpu_rss_high_water_subprocess", result["inference_peak_delta_mb"], result["steady_peak_delta_mb"], result
    )


def peak_memory(model: nn.Module, manifest: Any, *, device: str = "cpu", threads: int = 1) -> MemoryMeasurement:
    """Peak memory of one inference of an in-memory model with its ArchManifest."""
    if memory_method(device) == "cuda_max_memory_allocated":
        return _cuda_peak(model, (1, manifest.input_nc, *manifest.input_size), device)
    from decig.models.persistence import save_model

    with tempfile.TemporaryDirectory(prefix="decig-memprobe-") as tmp:
        save_model(model, manifest, tmp)
        return peak_memory_of_saved(tmp, device=device, threads=threads)


def _cuda_peak(model: nn.Module, input_shape: tuple[int, ...], device: str) -> MemoryMeasurement:
    plan = execution_plan(device)
    if not torch.cuda.is_available():
        raise EvaluationError(f"device {plan.device} requested but torch sees no CUDA GPU on this machine")
    dev = torch.device(plan.device)
    model = model.eval().to(dev)
    x = torch.rand(input_shape, device=dev) * 2 - 1
    cold, cold_details = _cuda_call_peak(model, x, dev)
    warm, _ = _cuda_call_peak(model, x, dev)
    details = {**cold_details, "device_name": torch.cuda.get_device_name(dev)}
    return MemoryMeasurement(plan.device, "cuda_max_memory_allocated", cold, warm, details)


def _cuda_call_peak(model: nn.Module, x: torch.Tensor, dev: torch.device) -> tuple[float, dict[str, float]]:
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    with torch.inference_mode():
        model(x)
    torch.cuda.synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev)
    return (peak - before) / 1e6, {"allocated_before_mb": before / 1e6, "max_allocated_mb": peak / 1e6}


def model_cost(
    model: nn.Module,
    manifest: Any,
    *,
    measure_memory: bool = False,
    device: str = "cpu",
    threads: int = 1,
) -> CostMetrics:
    """Params, true/convention MACs at the manifest's input size, weights size, optionally peak memory."""
    from decig.models.cost import count_cost

    report = count_cost(model, manifest.input_size, manifest.input_nc)
    memory = peak_memory(model, manifest, device=device, threads=threads) if measure_memory else None
    return CostMetrics(
        params=report.params_total,
        macs_true=report.macs_true_total,
        macs_convention=report.macs_convention_total,
        weights_bytes=serialized_size_bytes(model),
        input_size=tuple(manifest.input_size),
        memory=memory,
    )
