"""ONNX export with ``torch.onnx.export`` (the torch.export-based exporter) and an ONNX Runtime parity check.

Defaults suit deployment of image generators: opset 20, a fixed spatial size (lets ONNX Runtime
plan memory and pick conv kernels once), BatchNorm folded into the convs (the model is exported in
eval mode and the exporter's optimizer folds it), weights inside the one file (generators are far
below protobuf's 2 GB limit, and one file is easier to ship). ``dynamic_batch`` frees only the
batch axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.core.errors import ExportError
from decig.export.parity import (
    check_parity,
    eval_mode,
    keep_only_if_verified,
    trace_example,
    verified_record,
)
from decig.export.record import DEFAULT_OPSET, DEFAULT_TOLERANCE, ExportRecord
from decig.core.log import get_logger

log = get_logger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# The torch.export-based exporter emits opset 18 natively; lower opsets go through ONNX's version
# converter, which does not handle every op these generators use.
MIN_OPSET = 18
# torch.export needs a finite range for a symbolic dim; far above any batch a generator serves.
_MAX_BATCH = 4096


def file_opset(path: Path) -> int:
    """The default-domain (``ai.onnx``) opset recorded in an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ExportError(f"{path} declares no ai.onnx opset")


def ort_session(  # noqa: ANN201 - onnxruntime.InferenceSession, imported lazily
    path: Path,
    *,
    providers: Sequence[str | tuple[str, dict[str, Any]]] = ("CPUExecutionProvider",),
    threads: int = 0,
):
    """An ONNX Runtime session; ``threads`` 0 lets ORT choose (one per physical core).

    ``providers`` are names or ``(name, options)`` pairs, in preference order, as ORT takes them.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # generators are one chain of convs: no parallel branches to run
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as err:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
        raise ExportError(f"ONNX Runtime cannot load {path}: {err}") from err


def verify_onnx(
    path: str | Path,
    model: nn.Module,
    example_shape: Sequence[int],
    *,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """Max abs diff between ONNX Runtime (CPU) on ``path`` and ``model``; raises ExportError above ``tolerance``."""
    import onnx

    path = Path(path)
    try:
        onnx.checker.check_model(str(path))  # path form: also works for files with external data
    except onnx.checker.ValidationError as err:
        raise ExportError(f"{path} is not a valid ONNX model: {err}") from err
    session = ort_session(path)
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        return [torch.from_numpy(out) for out in session.run(None, {input_name: x.numpy()})]

    return check_parity(run, model, example_shape, dynamic_batch=dynamic_batch, tolerance=tolerance,
                        what="ONNX export", path=path)


def export_onnx(
    model: nn.Module,
    example_shape: Sequence[int],
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportRecord:
    """Export ``model`` for inputs shaped ``example_shape`` (e.g. ``(1, 3, 256, 256)``) and verify it.

    On a parity failure the file is deleted and ExportError raised with the measured difference.
    """
    import onnx
    import onnxruntime

    path = Path(path)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        # Checked up front: the exporter would otherwise spend seconds tracing before failing.
        raise ExportError(f"ONNX opset {opset} is not supported here: choose {MIN_OPSET}..{newest} (onnx {onnx.__version__})")
    path.parent.mkdir(parents=True, exist_ok=True)
    example = trace_example(example_shape, dynamic_batch)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=_MAX_BATCH)},) if dynamic_batch else None
    with eval_mode(model):
        try:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
        except Exception as err:  # the exporter raises many internal types; all mean "could not export"
            path.unlink(missing_ok=True)
            raise ExportError(f"torch.onnx.export failed for opset {opset}: {err}") from err
    actual_opset = file_opset(path)
    if actual_opset != opset:
        path.unlink(missing_ok=True)
        raise ExportError(f"asked for ONNX opset {opset} but the exporter wrote opset {actual_opset}")
    diff = keep_only_if_verified(
        path, lambda: verify_onnx(path, model, example_shape, dynamic_batch=dynamic_batch, tolerance=tolerance)
    )
    log.info("exported ONNX opset %d to %s (max abs diff %.2e)", opset, path, diff)
    return verified_record(
        "onnx", path, example_shape, dynamic_batch=dynamic_batch, diff=diff, tolerance=tolerance,
        checked_with=f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider",
        exporter="torch.onnx.export(dynamo=True)",
        versions={"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        opset=actual_opset,
    )
