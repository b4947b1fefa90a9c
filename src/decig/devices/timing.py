"""Latency of single layers at the input shape they see inside the model.

A layer's cost depends on its input resolution and channel count, so each prunable layer is timed
alone on the exact tensor it receives in a real forward pass (captured with forward pre-hooks),
not on a synthetic shape. CPU timings use wall-clock ``perf_counter``; CUDA timings use CUDA events
around the launch, because kernel launches are asynchronous and host clocks would time the launch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from decig.devices.spec import DeviceSpec
from decig.core.errors import DeviceError

NamedLayers = Sequence[tuple[str, nn.Module]]


class Timer(Protocol):
    def time(self, fn: Callable[[], object], *, warmup: int, repeats: int) -> list[float]:
        """Milliseconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
        ...


class CpuTimer:
    def time(self, fn: Callable[[], object], *, warmup: int, repeats: int) -> list[float]:
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            fn()
            out.append((time.perf_counter_ns() - start) / 1e6)
        return out


class CudaTimer:
    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, fn: Callable[[], object], *, warmup: int, repeats: int) -> list[float]:
        out = []
        with torch.cuda.device(self.device):
            for _ in range(warmup):
                fn()
            torch.cuda.synchronize(self.device)
            for _ in range(repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                out.append(start.elapsed_time(end))
        return out


def timer_for(spec: DeviceSpec) -> Timer:
    """The timer class that measures ``spec``: CUDA events for GPUs, wall clock for the CPU."""
    if spec.kind == "cuda":
        return CudaTimer(spec.torch_device())
    if spec.kind == "cpu":
        return CpuTimer()
    raise DeviceError(f"device {spec.name!r} is not timed (it counts MACs); no timer applies")


@dataclass(frozen=True)
class Stats:
    median: float
    p90: float
    minimum: float


def summarize(samples: Sequence[float]) -> Stats:
    """Median, 90th percentile (nearest rank) and minimum of timing samples."""
    if not samples:
        raise ValueError("no timing samples")
    ordered = sorted(samples)
    n = len(ordered)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    p90 = ordered[max(0, math.ceil(0.9 * n) - 1)]
    return Stats(median=median, p90=p90, minimum=ordered[0])


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Run with ``torch.set_num_threads(threads)``; the previous setting is restored afterwards."""
    if threads < 1:
        raise DeviceError(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def capture_inputs(model: nn.Module, layers: NamedLayers, example: Tensor) -> dict[str, Tensor]:
    """The tensor each layer receives during one forward pass of ``model`` on ``example``.

    Inputs are cloned: the generators apply in-place activations to tensors that were already
    fed to a conv, which would otherwise change what we captured.
    """
    captured: dict[str, Tensor] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple[Tensor, ...]], None]:
        def hook(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
            captured.setdefault(name, args[0].detach().clone())

        return hook

    handles = [module.register_forward_pre_hook(hook_for(name)) for name, module in layers]
    try:
        model(example)
    finally:
        for handle in handles:
            handle.remove()
    unused = [name for name, _ in layers if name not in captured]
    if unused:
        raise DeviceError(f"layer {unused[0]!r} was not called in the model's forward pass, so it cannot be timed")
    return captured
