"""Parity checks shared by all exporters: the same inputs through eager and exported model.

Inputs are uniform in [-1, 1] (the generators' input domain) from a fixed seed, so a check is
reproducible; with a dynamic batch one input has batch 2 to prove the batch axis really is free.
The eager reference runs in eval mode (BatchNorm running statistics, no dropout) exactly as exported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from decig.core.errors import ExportError
from decig.export.record import ExportRecord

PARITY_SEED = 0
PARITY_COUNT = 2


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for an export and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def parity_inputs(example_shape: Sequence[int], dynamic_batch: bool, count: int = PARITY_COUNT) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(PARITY_SEED)
    shapes = [tuple(example_shape)] * count
    if dynamic_batch:
        shapes.append((2, *example_shape[1:]))
    return [torch.rand(shape, generator=generator) * 2 - 1 for shape in shapes]


def trace_example(example_shape: Sequence[int], dynamic_batch: bool) -> torch.Tensor:
    """The input an exporter traces with.

    With a dynamic batch it has batch 2: torch.export specializes dimensions of size 1 to the
    constant 1 ("0/1 specialization"), which would contradict the requested symbolic batch.
    """
    shape = tuple(example_shape)
    if dynamic_batch and shape[0] == 1:
        shape = (2, *shape[1:])
    return parity_inputs(shape, dynamic_batch=False, count=1)[0]


def flatten_outputs(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in flatten_outputs(item)]
    raise ExportError(f"model output of type {type(output).__name__} is not a tensor or a tuple of tensors")


def eager_outputs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    with eval_mode(model), torch.inference_mode():
        # clone: the reference U-Net uses in-place activations; never let them touch the shared inputs
        return [[t.detach().cpu().float() for t in flatten_outputs(model(x.clone()))] for x in inputs]


def max_abs_diff(
    reference: Sequence[Sequence[torch.Tensor]],
    run_exported: Callable[[torch.Tensor], list[torch.Tensor]],
    inputs: Sequence[torch.Tensor],
    what: str,
) -> float:
    """Worst |exported - reference| over all inputs and outputs; shape or NaN mismatches raise."""
    worst = 0.0
    for x, expected in zip(inputs, reference):
        got = run_exported(x.clone())
        if len(got) != len(expected):
            raise ExportError(f"{what}: {len(got)} outputs, the PyTorch model has {len(expected)}")
        for index, (g, e) in enumerate(zip(got, expected)):
            if tuple(g.shape) != tuple(e.shape):
                raise ExportError(f"{what}: output {index} has shape {tuple(g.shape)}, PyTorch gives {tuple(e.shape)}")
            diff = (g.float() - e).abs()
            if torch.isnan(diff).any():
                raise ExportError(f"{what}: output {index} has NaN where the PyTorch model does not (input {tuple(x.shape)})")
            worst = max(worst, float(diff.max()))
    return worst


def require_within(diff: float, tolerance: float, what: str, path: Path) -> None:
    if not diff <= tolerance:
        raise ExportError(
            f"{what} {path} does not match the PyTorch model: max abs diff {diff:.3g} > tolerance {tolerance:.3g}. "
            "The exported file is unreliable; do not deploy it."
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def torch_runner(module: Callable[[torch.Tensor], object]) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """Wrap a reloaded torch program (``.pt2`` module, TorchScript) as a parity ``run`` function."""

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.inference_mode():
            return [t.float() for t in flatten_outputs(module(x))]

    return run


def check_parity(
    run: Callable[[torch.Tensor], list[torch.Tensor]],
    model: nn.Module,
    example_shape: Sequence[int],
    *,
    dynamic_batch: bool,
    tolerance: float,
    what: str,
    path: Path,
) -> float:
    """The one parity protocol every exporter uses: fixed inputs, eager reference, max abs diff, bound."""
    inputs = parity_inputs(example_shape, dynamic_batch)
    diff = max_abs_diff(eager_outputs(model, inputs), run, inputs, what)
    require_within(diff, tolerance, what, path)
    return diff


def keep_only_if_verified(path: Path, verify: Callable[[], float]) -> float:
    """Run ``verify``; an export that fails its check is deleted so nobody deploys it by accident."""
    try:
        return verify()
    except ExportError:
        path.unlink(missing_ok=True)
        raise


def verified_record(
    fmt: str,
    path: Path,
    example_shape: Sequence[int],
    *,
    dynamic_batch: bool,
    diff: float,
    tolerance: float,
    checked_with: str,
    exporter: str,
    versions: dict[str, str],
    opset: int | None = None,
) -> ExportRecord:
    """The record of a file that passed :func:`check_parity`: hash, size and how it was checked."""
    return ExportRecord(
        format=fmt,
        path=str(path),
        sha256=sha256_of(path),
        size_bytes=path.stat().st_size,
        input_shape=tuple(example_shape),
        dynamic_batch=dynamic_batch,
        max_abs_diff=diff,
        tolerance=tolerance,
        parity_inputs=tuple(tuple(x.shape) for x in parity_inputs(example_shape, dynamic_batch)),
        checked_with=checked_with,
        exporter=exporter,
        opset=opset,
        versions=versions,
    )
