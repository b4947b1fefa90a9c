"""TorchScript export (``torch.jit.trace``), only on request.

TorchScript is deprecated upstream in favour of torch.export; it is offered for runtimes that
still need it (older LibTorch deployments). Tracing records one path through the model, which is
exact for these generators (no data-dependent control flow).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from decig.core.errors import ExportError
from decig.export.parity import (
    check_parity,
    eval_mode,
    keep_only_if_verified,
    parity_inputs,
    torch_runner,
    verified_record,
)
from decig.export.record import DEFAULT_TOLERANCE, ExportRecord
from decig.core.log import get_logger

log = get_logger(__name__)


def verify_torchscript(
    path: str | Path,
    model: nn.Module,
    example_shape: Sequence[int],
    *,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the deprecation notice, see module docstring
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # RuntimeError for most failures, but not only
        raise ExportError(f"{path} cannot be loaded with torch.jit.load: {err}") from err
    return check_parity(torch_runner(module), model, example_shape, dynamic_batch=dynamic_batch,
                        tolerance=tolerance, what="TorchScript export", path=path)


def export_torchscript(
    model: nn.Module,
    example_shape: Sequence[int],
    path: str | Path,
    *,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportRecord:
    """Trace, save and verify; a traced conv net accepts any batch, so ``dynamic_batch`` only adds a batch-2 check."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = parity_inputs(example_shape, dynamic_batch=False, count=1)[0]
    with eval_mode(model), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            traced = torch.jit.trace(model, (example,), check_trace=False)
            torch.jit.save(traced, str(path))
        except Exception as err:
            path.unlink(missing_ok=True)
            raise ExportError(f"torch.jit.trace failed: {err}") from err
    diff = keep_only_if_verified(
        path, lambda: verify_torchscript(path, model, example_shape, dynamic_batch=dynamic_batch, tolerance=tolerance)
    )
    log.info("exported TorchScript to %s (max abs diff %.2e)", path, diff)
    return verified_record(
        "torchscript", path, example_shape, dynamic_batch=dynamic_batch, diff=diff, tolerance=tolerance,
        checked_with=f"torch.jit.load (torch {torch.__version__})",
        exporter="torch.jit.trace",
        versions={"torch": torch.__version__},
    )
