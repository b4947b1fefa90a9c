"""Device names as users write them (``cpu``, ``cuda``, ``cuda:1``, ``mac``) resolved to a spec.

``mac`` is not hardware: it is the paper's device-agnostic proxy, where a layer's cost is its
multiply-accumulate count. ``cuda`` names are checked against the GPUs torch can see, so a config
asking for a GPU on a CPU-only machine fails up front instead of half-way through a pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from decig.core.errors import DeviceError

DeviceKind = Literal["cpu", "cuda", "mac"]
VALID_NAMES = "cpu, cuda, cuda:N (N = GPU index), mac (MAC-count proxy)"

if TYPE_CHECKING:  # torch loads on first use, so CLI parsers can list VALID_NAMES cheaply
    import torch

_CUDA = re.compile(r"cuda(?::(\d+))?")


@dataclass(frozen=True)
class DeviceSpec:
    """A resolved target: ``name`` is canonical (``cuda`` becomes ``cuda:<current index>``)."""

    kind: DeviceKind
    name: str
    index: int | None = None

    @property
    def is_timed(self) -> bool:
        """True for real hardware (latency is measured), False for the MAC proxy."""
        return self.kind != "mac"

    def torch_device(self) -> torch.device:
        if self.kind == "mac":
            raise DeviceError("'mac' is a MAC-count proxy, not a device tensors can live on")
        import torch

        return torch.device(self.name)


def resolve_device(name: str) -> DeviceSpec:
    """Parse and check a device name; raises :class:`DeviceError` listing the valid names."""
    text = name.strip().lower()
    if text in ("cpu", "mac"):
        return DeviceSpec(kind=text, name=text)  # type: ignore[arg-type]
    match = _CUDA.fullmatch(text)
    if match is None:
        raise DeviceError(f"unknown device {name!r}; valid devices: {VALID_NAMES}")
    import torch

    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} asks for a GPU, but torch sees none (CPU-only build, no driver, or "
            "CUDA_VISIBLE_DEVICES empty); use 'cpu', or 'mac' for the device-agnostic MAC proxy"
        )
    count = torch.cuda.device_count()
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    if index >= count:
        raise DeviceError(f"device {name!r}: only {count} GPU(s) visible (cuda:0 .. cuda:{count - 1})")
    return DeviceSpec(kind="cuda", name=f"cuda:{index}", index=index)
