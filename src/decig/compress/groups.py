"""What else leaves with a conv's output channel and reaches that channel's output: its *channel group*.

The penalty and Stage II both measure a channel by everything that must go when it is removed and
that can still put signal into the next layer. Conv weights alone are not enough once a norm
follows the conv: BatchNorm computes ``γ·(x − μ)/√(σ² + ε) + β``, so a channel whose conv weights
were driven to zero still outputs the constant ``β`` (plus ``γ·x/√ε``, which vanishes with the
weights). Pruning that channel then removes a constant the next layer was using, which is what made
the pruned demo model differ from its teacher. So per channel ``c`` the group is:

* the conv's output weights ``W_c`` (always),
* the following norm's shift ``β_c`` when that norm is affine — it is what the channel outputs once
  ``W_c`` is zero; the conv bias is then dead (the norm subtracts the mean) and left out,
* the conv's own bias ``b_c`` when no norm follows (nothing removes it downstream).

The norm's scale ``γ_c`` is not in the group: it multiplies ``x/√(σ² + ε)``, which goes to zero with
``W_c`` once the conv output's variance σ² falls below ε (the running σ² tracks it), so a zero
``W_c`` and ``β_c`` already make the channel's output zero; and under Adam a penalty moves each parameter by at most about the
learning rate per step, so ``γ ≈ 1`` (its initial value) could not reach zero in a short run anyway
— adding it would only put a floor of ~1 under every channel's magnitude and blur the hinge.

"Follows" is read from the module tree: the next module in the conv's parent ``nn.Sequential``
(how the pix2pix/CycleGAN generators are built: conv, norm, activation). torch-pruning's dependency
graph (:mod:`decig.compress.surgery`) removes exactly these parameters with the channel, and the
consumers' input slices besides; those input slices are not in the group because the U-Net skip
concat hands one down-conv channel to two consumers, whose input weights the Stage-I penalty of
those consumers' own output channels already shrinks.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase

NamedLayers = Sequence[tuple[str, nn.Module]]


def _out_channels(module: nn.Module) -> int:
    w = module.weight
    if isinstance(module, nn.ConvTranspose2d):
        return w.shape[1] * module.groups
    return w.shape[0]


def _next_sibling(model: nn.Module, name: str) -> nn.Module | None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential):
        return None
    keys = list(parent._modules)
    index = keys.index(child)
    return parent._modules[keys[index + 1]] if index + 1 < len(keys) else None


def channel_offsets(model: nn.Module, layers: NamedLayers) -> dict[str, tuple[Tensor, ...]]:
    """Per-channel vectors (shape ``[out_channels]``) in each layer's channel group besides its weight.

    Keys are the layer names of ``layers`` (module paths inside ``model``); a layer with nothing
    besides its weight maps to ``()``. The tensors are the model's own parameters, so a penalty
    built on them is differentiable w.r.t. them.
    """
    out: dict[str, tuple[Tensor, ...]] = {}
    for name, module in layers:
        after = _next_sibling(model, name)
        vectors: list[Tensor] = []
        if isinstance(after, _NormBase):
            if after.affine and after.bias is not None:
                vectors.append(after.bias)
        elif getattr(module, "bias", None) is not None:
            vectors.append(module.bias)
        n = _out_channels(module)
        for v in vectors:
            if v.dim() != 1 or v.shape[0] != n:
                raise ValueError(
                    f"layer {name!r}: a per-channel vector of its group has shape {tuple(v.shape)}, "
                    f"expected [{n}] (the module after it does not match its width)"
                )
        out[name] = tuple(vectors)
    return out
