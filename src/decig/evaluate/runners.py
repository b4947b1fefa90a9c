"""One timed call of one model on one backend, with the device-specific details chosen by device name.

* ``cpu``: eager PyTorch, ONNX Runtime with CPUExecutionProvider.
* ``cuda`` / ``cuda:N``: eager PyTorch followed by ``torch.cuda.synchronize`` (kernels are
  asynchronous; without it only the launch would be timed; a host clock around a synchronized call,
  rather than CUDA events, keeps eager and ORT timings on the same clock), ONNX Runtime with the
  CUDAExecutionProvider and input/output bound on the GPU through IOBinding, so the timing covers
  the model and not host<->device copies (which the eager path does not pay either).

Inputs are created once at construction; a call only runs the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.core.errors import EvaluationError

BACKENDS = ("eager", "onnx")
_CUDA = re.compile(r"cuda(?::(\d+))?")


@dataclass(frozen=True)
class ExecutionPlan:
    """How to run and time on a device; derived from its name by :func:`execution_plan`."""

    device: str  # torch device string
    kind: str  # "cpu" | "cuda"
    torch_synchronize: bool
    ort_providers: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def ort_provider_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.ort_providers)


def execution_plan(device: str) -> ExecutionPlan:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> plan; anything else raises EvaluationError."""
    name = device.strip().lower()
    if name == "mac":
        raise EvaluationError("'mac' is the MAC-count proxy, not hardware: latency can only be timed on cpu or cuda")
    if name == "cpu":
        return ExecutionPlan("cpu", "cpu", False, (("CPUExecutionProvider", {}),))
    match = _CUDA.fullmatch(name)
    if match:
        index = int(match.group(1) or 0)
        # CPU provider stays as fallback for the few ops the CUDA provider lacks (ORT's documented pattern).
        providers = (("CUDAExecutionProvider", {"device_id": index}), ("CPUExecutionProvider", {}))
        return ExecutionPlan(f"cuda:{index}", "cuda", True, providers)
    raise EvaluationError(f"unknown timing device {device!r}: use cpu, cuda or cuda:N")


def check_plan_available(plan: ExecutionPlan, backends: Sequence[str]) -> None:
    """Fail before any work when the device or ORT provider is not on this machine."""
    if plan.kind == "cuda":
        if not torch.cuda.is_available():
            raise EvaluationError(f"device {plan.device} requested but torch sees no CUDA GPU on this machine")
        if "onnx" in backends:
            import onnxruntime as ort

            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise EvaluationError(
                    "ONNX Runtime here has no CUDAExecutionProvider (install onnxruntime-gpu) "
                    f"; available: {', '.join(ort.get_available_providers())}"
                )


class EagerRunner:
    backend = "eager"

    def __init__(self, name: str, model: nn.Module, input_shape: Sequence[int], plan: ExecutionPlan) -> None:
        self.name = name
        self.plan = plan
        self.device = torch.device(plan.device)
        self.model = model.eval().to(self.device)
        self.input = (torch.rand(tuple(input_shape), generator=torch.Generator().manual_seed(0)) * 2 - 1).to(self.device)

    def __call__(self) -> None:
        with torch.inference_mode():
            self.model(self.input)
        if self.plan.torch_synchronize:
            torch.cuda.synchronize(self.device)


class OrtRunner:
    backend = "onnx"

    def __init__(self, name: str, onnx_path: Path, input_shape: Sequence[int], plan: ExecutionPlan, threads: int) -> None:
        import numpy as np

        from decig.export.onnx_export import ort_session

        self.name = name
        self.session = ort_session(onnx_path, providers=plan.ort_providers, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        generator = np.random.default_rng(0)
        self.feed = {self.input_name: (generator.random(tuple(input_shape), dtype=np.float32) * 2 - 1)}
        self._binding = None
        if plan.kind == "cuda":
            import onnxruntime as ort

            index = int(plan.device.split(":")[1])
            value = ort.OrtValue.ortvalue_from_numpy(self.feed[self.input_name], "cuda", index)
            binding = self.session.io_binding()
            binding.bind_ortvalue_input(self.input_name, value)
            binding.bind_output(self.session.get_outputs()[0].name, "cuda", index)
            self._binding = binding

    def __call__(self) -> None:
        if self._binding is not None:
            # run_with_iobinding synchronizes the CUDA stream before returning.
            self.session.run_with_iobinding(self._binding)
        else:
            self.session.run(None, self.feed)
