"""``.pt2`` export: ``torch.export.export`` + ``torch.export.save``, checked by reloading the program.

The saved ExportedProgram is code-free (a graph plus weights), so it loads without the decig model
classes; it is specialised to the example's shape except for the batch axis when ``dynamic_batch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from decig.core.errors import ExportError
from decig.export.parity import (
    check_parity,
    eval_mode,
    keep_only_if_verified,
    torch_runner,
    trace_example,
    verified_record,
)
from decig.export.record import DEFAULT_TOLERANCE, ExportRecord
from decig.core.log import get_logger

log = get_logger(__name__)

_MAX_BATCH = 4096


def verify_pt2(
    path: str | Path,
    model: nn.Module,
    example_shape: Sequence[int],
    *,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """Max abs diff between the reloaded program at ``path`` and ``model``; raises above ``tolerance``."""
    path = Path(path)
    try:
        program = torch.export.load(str(path))
    except Exception as err:  # zip/pickle/schema errors: all mean the file is not a loadable program
        raise ExportError(f"{path} cannot be loaded with torch.export.load: {err}") from err
    return check_parity(torch_runner(program.module()), model, example_shape, dynamic_batch=dynamic_batch,
                        tolerance=tolerance, what=".pt2 export", path=path)


def export_pt2(
    model: nn.Module,
    example_shape: Sequence[int],
    path: str | Path,
    *,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportRecord:
    """Export and save ``model`` as a ``.pt2`` ExportedProgram, then verify it (file deleted on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = trace_example(example_shape, dynamic_batch)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=_MAX_BATCH)},) if dynamic_batch else None
    with eval_mode(model):
        try:
            program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
            torch.export.save(program, str(path))
        except Exception as err:  # export raises many internal types (UserError, GuardOnDataDependent, ...)
            path.unlink(missing_ok=True)
            raise ExportError(f"torch.export failed: {err}") from err
    diff = keep_only_if_verified(
        path, lambda: verify_pt2(path, model, example_shape, dynamic_batch=dynamic_batch, tolerance=tolerance)
    )
    log.info("exported .pt2 to %s (max abs diff %.2e)", path, diff)
    return verified_record(
        "pt2", path, example_shape, dynamic_batch=dynamic_batch, diff=diff, tolerance=tolerance,
        checked_with=f"torch.export.load (torch {torch.__version__})",
        exporter="torch.export.export + torch.export.save",
        versions={"torch": torch.__version__},
    )
