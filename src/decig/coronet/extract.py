"""Materialize the compact generator: channels with a zero latent removed, weights generated once.

The result is an ordinary U-Net/ResNet generator with per-layer widths in its
:class:`~decig.models.manifest.ArchManifest`, saved with :func:`~decig.models.persistence.save_model`
like DECIG's fine-tuned student, so evaluation, export and the registry treat both methods alike.

Why removing channels changes nothing: a removed channel's weights are exactly zero (its latent
is zero), so it contributes nothing to any consumer. What it still computes itself (a conv bias, a
BatchNorm shift) only ever reaches consumers through those zero weights, so dropping it, together
with its bias and norm entries, leaves every kept channel's value unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from decig.coronet.hypernet import CoroNetGenerator
from decig.coronet.layout import OUTPUT_GROUP
from decig.models.builder import Conv, build_from_manifest
from decig.models.manifest import ArchManifest


def norm_owners(model: nn.Module) -> dict[str, str]:
    """Norm module name -> name of the conv whose channels it normalizes.

    In every family a norm directly follows its conv inside an ``nn.Sequential``.
    """
    owners: dict[str, str] = {}
    for seq_name, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        previous: str | None = None
        for index, layer in enumerate(seq):
            name = f"{seq_name}.{index}" if seq_name else str(index)
            if isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and previous is not None:
                owners[name] = previous
            previous = name if isinstance(layer, Conv) else None
    return owners


def _input_indices(gen: CoroNetGenerator, layer: str, kept: dict[str, Tensor]) -> Tensor:
    parts, offset = [], 0
    for group in gen.layout.layers[layer][1]:
        parts.append(kept[group] + offset)
        offset += gen.layout.groups[group]
    return torch.cat(parts)


@torch.no_grad()
def compact_manifest(gen: CoroNetGenerator) -> ArchManifest:
    kept = gen.kept_indices()
    widths = {
        layer: len(kept[out_group]) for layer, (out_group, _) in gen.layout.layers.items() if out_group != OUTPUT_GROUP
    }
    return gen.manifest.with_widths(widths)


@torch.no_grad()
def extract_generator(gen: CoroNetGenerator) -> tuple[nn.Module, ArchManifest]:
    """The compact generator (on CPU, in eval mode) and its manifest."""
    kept = gen.kept_indices()
    manifest = compact_manifest(gen)
    state = {key: value.detach().cpu() for key, value in gen.base.state_dict().items()}
    out_index: dict[str, Tensor] = {}
    for layer, (out_group, _) in gen.layout.layers.items():
        out_idx, in_idx = kept[out_group], _input_indices(gen, layer, kept)
        out_index[layer] = out_idx
        weight = gen.generate(layer).detach().cpu()
        if gen.transposed[layer]:
            weight = weight[in_idx][:, out_idx]
        else:
            weight = weight[out_idx][:, in_idx]
        state[f"{layer}.weight"] = weight.contiguous()
        if f"{layer}.bias" in state:
            state[f"{layer}.bias"] = state[f"{layer}.bias"][out_idx].contiguous()
    for norm, conv in norm_owners(gen.base).items():
        full = gen.layout.out_channels(conv)
        for key in [k for k in state if k.startswith(norm + ".")]:
            value = state[key]
            # Per-channel tensors (weight, bias, running stats) are sliced; num_batches_tracked is a scalar.
            if value.dim() == 1 and value.shape[0] == full:
                state[key] = value[out_index[conv]].contiguous()
    compact = build_from_manifest(manifest)
    compact.load_state_dict(state)
    compact.eval()
    return compact, manifest
