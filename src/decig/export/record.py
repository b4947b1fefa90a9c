"""What an export produced and how it was verified, as a JSON-ready record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_OPSET = 20
# Max |exported - eager| allowed on the parity inputs. float32 kernels differ by ~1e-6 on these
# generators; 1e-4 leaves headroom for deep nets while catching any real graph difference.
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportRecord:
    format: str  # "onnx" | "pt2" | "torchscript"
    path: str
    sha256: str
    size_bytes: int
    input_shape: tuple[int, ...]  # the example's shape; batch is dynamic when dynamic_batch
    dynamic_batch: bool
    max_abs_diff: float  # worst difference over all parity inputs
    tolerance: float
    parity_inputs: tuple[tuple[int, ...], ...]  # shapes of the inputs compared
    checked_with: str  # runtime that reloaded the file for the parity check
    exporter: str
    opset: int | None = None  # ONNX only: default-domain opset actually in the file
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["parity_inputs"] = [list(shape) for shape in self.parity_inputs]
        return data
