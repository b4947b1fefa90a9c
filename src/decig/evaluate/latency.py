"""Batch-1 latency of several models on several backends, measured interleaved in one process.

Why interleaved: on a shared machine the speed of the CPU drifts by several times over minutes
(other processes, frequency scaling). Timing model A for a minute and then model B compares two
different machines. Round-robin calls (A, B, A, B, ...) expose every model to the same drift, so
*ratios* stay stable even when absolute times do not; results are reported as medians, p90s and
speedups against a named baseline (the vanilla model in eager PyTorch).

Details that matter for honest numbers:

* threads are pinned (``torch.set_num_threads``, ORT ``intra_op_num_threads``) and recorded; one
  thread is the most reproducible choice on a shared machine.
* after an ONNX Runtime call its worker threads keep spinning for a few ms and slow the next
  PyTorch call; a short untimed gap (default 20 ms) follows every ORT call.
* the start of each round rotates, so no runner always follows the same neighbour.
* the garbage collector is paused during the timed rounds (as ``timeit`` does).
* every ONNX model is exported and parity-checked (max abs diff <= 1e-4) before it is timed:
  a fast but wrong graph must not produce a speedup.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from decig.core.errors import EvaluationError
from decig.evaluate.machine import load_average, machine_facts, usable_cpus
from decig.evaluate.runners import BACKENDS, EagerRunner, OrtRunner, check_plan_available, execution_plan
from decig.core.log import get_logger, progress

log = get_logger(__name__)

DEFAULT_WARMUP = 5
DEFAULT_REPEATS = 30
DEFAULT_GAP_MS = 20.0


@dataclass(frozen=True)
class Candidate:
    """A model to time. ``onnx_path`` may point at an existing export; otherwise one is made."""

    name: str
    model: nn.Module
    input_shape: tuple[int, ...]  # (1, C, H, W): batch 1 at the model's resolution
    onnx_path: Path | None = None


@dataclass(frozen=True)
class Timing:
    model: str
    backend: str
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    fps: float  # 1000 / median_ms
    samples: int
    speedup_vs_baseline: float  # baseline model on the baseline backend / this, by medians
    speedup_same_backend: float  # baseline model on this backend / this


@dataclass(frozen=True)
class LatencyReport:
    baseline: str
    baseline_backend: str
    timings: tuple[Timing, ...]
    settings: dict[str, Any]
    machine: dict[str, Any]

    def get(self, model: str, backend: str) -> Timing:
        for timing in self.timings:
            if timing.model == model and timing.backend == backend:
                return timing
        raise KeyError(f"no timing for model {model!r} on backend {backend!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"model": self.baseline, "backend": self.baseline_backend},
            "timings": [asdict(timing) for timing in self.timings],
            "settings": dict(self.settings),
            "machine": dict(self.machine),
        }


def parse_backends(text: str | Sequence[str]) -> tuple[str, ...]:
    items = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    unknown = [item for item in items if item not in BACKENDS]
    if unknown or not items:
        raise EvaluationError(f"unknown backend(s) {unknown or items!r}; choose from {', '.join(BACKENDS)}")
    return tuple(dict.fromkeys(items))


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, p90 (linear interpolation), min and mean of one runner's samples."""
    values = np.asarray(samples_ms, dtype=np.float64)
    return {
        "median_ms": float(np.median(values)),
        "p90_ms": float(np.percentile(values, 90)),
        "min_ms": float(values.min()),
        "mean_ms": float(values.mean()),
    }


def interleaved_samples(runners: Sequence[Any], *, warmup: int, repeats: int, gap_s: float) -> list[list[float]]:
    """Per runner, ``repeats`` wall-clock samples in ms, taken round-robin (see module docstring)."""
    n = len(runners)
    for _ in range(warmup):
        for runner in runners:
            runner()
            if runner.backend == "onnx":
                time.sleep(gap_s)
    samples: list[list[float]] = [[] for _ in runners]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in progress(range(repeats), desc="timing rounds", total=repeats, unit="round"):
            for offset in range(n):
                index = (round_index + offset) % n
                runner = runners[index]
                start = time.perf_counter_ns()
                runner()
                samples[index].append((time.perf_counter_ns() - start) / 1e6)
                if runner.backend == "onnx":
                    time.sleep(gap_s)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _validate(candidates: Sequence[Candidate], baseline: str, warmup: int, repeats: int, threads: int) -> None:
    names = [c.name for c in candidates]
    if not candidates:
        raise EvaluationError("no models to time")
    if len(set(names)) != len(names):
        raise EvaluationError(f"model names must be unique, got {names}")
    if baseline not in names:
        raise EvaluationError(f"baseline {baseline!r} is not among the timed models ({', '.join(names)})")
    if repeats < 1 or warmup < 0:
        raise EvaluationError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    if threads < 1:
        raise EvaluationError(f"threads must be >= 1, got {threads}")


def measure_latency(
    candidates: Sequence[Candidate],
    *,
    baseline: str,
    backends: Sequence[str] = BACKENDS,
    device: str = "cpu",
    threads: int = 1,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    gap_ms: float = DEFAULT_GAP_MS,
    opset: int = 20,
    work_dir: str | Path | None = None,
) -> LatencyReport:
    """Time every candidate on every backend, interleaved; speedups are against ``baseline``.

    The baseline backend is eager when timed, otherwise the first backend given.
    ONNX files are written to ``work_dir`` (a temporary directory when None).
    """
    backends = parse_backends(backends)
    _validate(candidates, baseline, warmup, repeats, threads)
    plan = execution_plan(device)
    check_plan_available(plan, backends)
    baseline_backend = "eager" if "eager" in backends else backends[0]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    if threads > usable_cpus():
        log.warning("timing with %d threads on %d usable CPUs: threads will compete", threads, usable_cpus())
    try:
        with tempfile.TemporaryDirectory(prefix="decig-latency-") as tmp:
            onnx_dir = Path(work_dir) if work_dir is not None else Path(tmp)
            runners = _build_runners(candidates, backends, plan, threads, opset, onnx_dir)
            load_before = load_average()
            samples = interleaved_samples(runners, warmup=warmup, repeats=repeats, gap_s=gap_ms / 1000)
            load_after = load_average()
            machine = machine_facts()  # inside the pinned-threads block: records the threads used
    finally:
        torch.set_num_threads(previous_threads)

    stats = {(r.name, r.backend): summarize(s) for r, s in zip(runners, samples)}
    base_median = stats[(baseline, baseline_backend)]["median_ms"]
    timings = []
    for runner, runner_samples in zip(runners, samples):
        s = stats[(runner.name, runner.backend)]
        same_backend = stats[(baseline, runner.backend)]["median_ms"]
        timings.append(
            Timing(
                model=runner.name,
                backend=runner.backend,
                fps=1000.0 / s["median_ms"],
                samples=len(runner_samples),
                speedup_vs_baseline=base_median / s["median_ms"],
                speedup_same_backend=same_backend / s["median_ms"],
                **s,
            )
        )
    _warn_if_noisy(timings, load_before, machine["usable_cpus"])
    settings = {
        "device": plan.device,
        "threads": threads,
        "ort_intra_op_num_threads": threads if "onnx" in backends else None,
        "ort_providers": list(plan.ort_provider_names) if "onnx" in backends else None,
        "warmup_rounds": warmup,
        "timed_rounds": repeats,
        "gap_after_ort_ms": gap_ms,
        "order": "round-robin, start rotated each round",
        "onnx_opset": opset if "onnx" in backends else None,
        "input_shapes": {c.name: list(c.input_shape) for c in candidates},
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    return LatencyReport(baseline, baseline_backend, tuple(timings), settings, machine)


def _build_runners(
    candidates: Sequence[Candidate],
    backends: Sequence[str],
    plan: Any,
    threads: int,
    opset: int,
    onnx_dir: Path,
) -> list[Any]:
    from decig.export.onnx_export import export_onnx

    runners: list[Any] = []
    for candidate in candidates:
        for backend in backends:
            if backend == "eager":
                runners.append(EagerRunner(candidate.name, candidate.model, candidate.input_shape, plan))
                continue
            path = candidate.onnx_path
            if path is None:
                path = onnx_dir / f"{_safe(candidate.name)}.onnx"
                export_onnx(candidate.model.cpu(), candidate.input_shape, path, opset=opset)  # parity-checked
            runners.append(OrtRunner(candidate.name, path, candidate.input_shape, plan, threads))
    return runners


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


def _warn_if_noisy(timings: Sequence[Timing], load_before: list[float] | None, cpus: int) -> None:
    # p90 far above the median means the machine was busy; ratios may still hold, absolutes do not.
    spread = statistics.median(t.p90_ms / t.median_ms for t in timings)
    if spread > 1.5:
        log.warning("latency samples are noisy (median p90/median = %.2f): another process is competing for CPU", spread)
    if load_before and load_before[0] > cpus:
        log.warning("load average %.1f exceeds %d usable CPUs: absolute latencies are inflated", load_before[0], cpus)
