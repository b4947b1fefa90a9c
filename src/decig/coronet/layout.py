"""Which latent vector controls which channels: the latent layout of a generator.

A *group* is one latent vector. Every conv layer has one output group (its output channels) and an
ordered list of input groups (the groups whose channels it reads, concatenated in that order). The
hypernetwork builds the weight of channel pair (out j, in l) from ``z_out[j] * z_in[l]``, so a
channel whose latent is zero is removed from its producer *and* from every consumer at once.

Coupled channels are handled by the layout, not by extra rules:

* U-Net skip concatenations: the up conv of level k reads ``cat([down_k output, up_{k+1} output])``,
  so its input groups are ``[down_k, up_{k+1}]``. A pruned down channel disappears from the skip
  path and from the next down conv together; no two layers need to share a latent.
* ResNet residual trunk: every residual block adds its output to the trunk, so the trunk conv
  (``model.7``) and the second conv of every block write the *same* channels and share one group.

Two fixed groups are never pruned: ``@input`` (the image channels) and ``@output`` (the image the
final layer produces).
"""

from __future__ import annotations

from dataclasses import dataclass

from decig.core.errors import ManifestError
from decig.models.manifest import ArchManifest
from decig.models.resnet import _TRUNK, resnet_block_conv_names, resnet_final_name
from decig.models.unet import unet_level_names

INPUT_GROUP = "@input"
OUTPUT_GROUP = "@output"
FIXED_GROUPS = (INPUT_GROUP, OUTPUT_GROUP)


@dataclass(frozen=True)
class LatentLayout:
    """``groups``: group -> size (full width); ``layers``: conv name -> (output group, input groups)."""

    groups: dict[str, int]
    layers: dict[str, tuple[str, tuple[str, ...]]]

    @property
    def prunable_groups(self) -> list[str]:
        return [g for g in self.groups if g not in FIXED_GROUPS]

    def in_channels(self, layer: str) -> int:
        return sum(self.groups[g] for g in self.layers[layer][1])

    def out_channels(self, layer: str) -> int:
        return self.groups[self.layers[layer][0]]


def latent_layout(manifest: ArchManifest) -> LatentLayout:
    """The layout of a U-Net or ResNet generator manifest (widths taken from the manifest)."""
    w = manifest.widths
    if manifest.family == "unet":
        assert manifest.num_downs is not None
        layers = _unet_layers(manifest.num_downs)
    elif manifest.family == "resnet":
        assert manifest.n_blocks is not None
        layers = _resnet_layers(manifest.n_blocks, manifest.use_dropout)
    else:
        raise ManifestError(f"CoroNetGAN prunes generators (unet, resnet), not a {manifest.family} model")
    groups: dict[str, int] = {INPUT_GROUP: manifest.input_nc}
    for name, (out_group, _) in layers.items():
        size = manifest.output_nc if out_group == OUTPUT_GROUP else w[out_group]
        if groups.setdefault(out_group, size) != size:  # a shared group must agree on its width
            raise ManifestError(f"layer {name!r} writes group {out_group!r} with width {size}, expected {groups[out_group]}")
    return LatentLayout(groups=groups, layers=layers)


def _unet_layers(num_downs: int) -> dict[str, tuple[str, tuple[str, ...]]]:
    levels = unet_level_names(num_downs)
    layers: dict[str, tuple[str, tuple[str, ...]]] = {}
    previous = INPUT_GROUP
    for down, _ in levels:
        layers[down] = (down, (previous,))
        previous = down
    innermost = num_downs - 1
    for level in reversed(range(num_downs)):
        down, up = levels[level]
        inputs = (down,) if level == innermost else (down, levels[level + 1][1])
        layers[up] = (OUTPUT_GROUP if level == 0 else up, inputs)
    return layers


def _resnet_layers(n_blocks: int, use_dropout: bool) -> dict[str, tuple[str, tuple[str, ...]]]:
    layers: dict[str, tuple[str, tuple[str, ...]]] = {
        "model.1": ("model.1", (INPUT_GROUP,)),
        "model.4": ("model.4", ("model.1",)),
        _TRUNK: (_TRUNK, ("model.4",)),
    }
    for first, second in resnet_block_conv_names(n_blocks, use_dropout):
        layers[first] = (first, (_TRUNK,))
        layers[second] = (_TRUNK, (first,))  # the residual add: the block writes trunk channels
    up1, up2 = f"model.{10 + n_blocks}", f"model.{13 + n_blocks}"
    layers[up1] = (up1, (_TRUNK,))
    layers[up2] = (up2, (up1,))
    layers[resnet_final_name(n_blocks)] = (OUTPUT_GROUP, (up2,))
    return layers
