"""Synthetic "condensed" generators: Stage-I-like channel magnitudes without training.

Stage I leaves most channels of every layer near zero. To exercise and measure Stage II (tests,
benchmarks, demos) without hours of training, :func:`condense_weights` scales a random subset of each
decision unit's output channels by a small factor — the same channel indices in every member of a
coupled group, as a trained trunk would have them. Only weights are scaled (the penalty acts on
weights; biases and norms are left as they are).
"""

from __future__ import annotations

import torch
from torch import nn

from decig.compress.coupling import decision_units
from decig.models.manifest import ArchManifest


@torch.no_grad()
def condense_weights(
    model: nn.Module, manifest: ArchManifest, *, dead_fraction: float = 0.75, scale: float = 1e-3, seed: int = 0
) -> dict[str, tuple[int, ...]]:
    """Scale ``dead_fraction`` of each unit's output channels by ``scale`` in place; return them per unit.

    At least one channel per unit stays alive. ConvTranspose2d weights are ``[in, out, kH, kW]``,
    so their output channels are dim 1.
    """
    if not 0 <= dead_fraction < 1:
        raise ValueError(f"dead_fraction must be in [0, 1), got {dead_fraction}")
    generator = torch.Generator().manual_seed(seed)
    dead: dict[str, tuple[int, ...]] = {}
    for unit in decision_units(manifest):
        width = manifest.widths[unit[0]]
        count = min(width - 1, int(round(dead_fraction * width)))
        chosen = torch.randperm(width, generator=generator)[:count].sort().values
        for name in unit:
            layer = model.get_submodule(name)
            if isinstance(layer, nn.ConvTranspose2d):
                layer.weight[:, chosen] *= scale
            else:
                layer.weight[chosen] *= scale
        dead[unit[0]] = tuple(int(i) for i in chosen)
    return dead
