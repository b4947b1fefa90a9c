"""How far a freshly pruned student is from its teacher before any fine-tuning ("zero-shot").

The paper's claim for hinge pruning is that the removed channels carried almost nothing, so the
pruned generator's images barely change. This measures it on real inputs: the largest and mean
absolute pixel difference (generator range [-1, 1]) and the mean per-image PSNR of the student
against the teacher (same convention as :func:`decig.evaluate.psnr`: images mapped to [0, 1]).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from decig.evaluate.paired_metrics import psnr
from decig.core.errors import EvaluationError


def _batches(inputs: torch.Tensor | Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    return inputs


@torch.no_grad()
def zero_shot_difference(
    teacher: nn.Module, student: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor]
) -> dict[str, float]:
    """``{max_abs, mean_abs, psnr, images}`` of student vs teacher outputs, both in eval mode.

    ``inputs`` is a batch ``[N, C, H, W]`` or an iterable of such batches (on the models' device).
    PSNR is ``inf`` when the outputs are identical. Both models' train/eval modes are restored.
    """
    modes = (teacher.training, student.training)
    teacher.eval()
    student.eval()
    max_abs = 0.0
    abs_sum = 0.0
    elements = 0
    psnrs: list[torch.Tensor] = []
    try:
        for batch in _batches(inputs):
            reference = teacher(batch)
            output = student(batch)
            if output.shape != reference.shape:
                raise EvaluationError(
                    f"student output {tuple(output.shape)} differs in shape from the teacher's {tuple(reference.shape)}"
                )
            diff = (output.float() - reference.float()).abs()
            max_abs = max(max_abs, float(diff.max()))
            abs_sum += float(diff.double().sum())
            elements += diff.numel()
            psnrs.append(psnr(output, reference))
    finally:
        teacher.train(modes[0])
        student.train(modes[1])
    if not elements:
        raise EvaluationError("zero-shot check got no input images")
    per_image = torch.cat(psnrs)
    return {
        "max_abs": max_abs,
        "mean_abs": abs_sum / elements,
        "psnr": float(per_image.mean()),
        "images": int(per_image.numel()),
    }
