"""Which prunable layers must share one keep decision (coupled output channels).

A channel that is *added* to another tensor can only be removed from both: the CycleGAN ResNet adds
every residual block's output to its input, so the trunk conv (``model.7``) and the second conv of
every block form one group whose kept channels must be the same indices in all members. U-Net skip
connections *concatenate* instead of adding, which couples a layer's outputs only to its consumers'
inputs: every U-Net layer decides alone. The output layer (``manifest.final_layer``, the image) is
never pruned and appears in no group.

Derived from the manifest, not from tracing, so plans stay pure functions of data; surgery checks
each group against torch-pruning's dependency graph before cutting (see :mod:`decig.compress.surgery`).
"""

from __future__ import annotations

from decig.core.errors import PruningError
from decig.models.manifest import ArchManifest
from decig.models.resnet import resnet_block_conv_names

RESNET_TRUNK = "model.7"


def decision_units(manifest: ArchManifest) -> list[tuple[str, ...]]:
    """Groups of layers deciding together, in model order; the first name leads its group.

    Every prunable layer appears in exactly one unit; single layers are 1-tuples.
    """
    if manifest.family == "patchgan":
        raise PruningError("Stage II prunes generators only; the discriminator keeps its architecture")
    prunable = [name for name in manifest.widths if name != manifest.final_layer]
    if manifest.family == "unet":
        return [(name,) for name in prunable]
    assert manifest.n_blocks is not None
    trunk_members = [second for _, second in resnet_block_conv_names(manifest.n_blocks, manifest.use_dropout)]
    trunk = (RESNET_TRUNK, *trunk_members)
    units: list[tuple[str, ...]] = []
    for name in prunable:
        if name == RESNET_TRUNK:
            units.append(trunk)
        elif name not in trunk_members:
            units.append((name,))
    return units
