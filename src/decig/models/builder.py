"""Between manifests and modules: build a model from a manifest, read a manifest off a model.

``manifest_from_model`` is how a channel-pruned model (e.g. by torch-pruning, which edits the
modules in place) gets a manifest that rebuilds the same architecture from scratch, so its
weights can be stored as a plain state dict instead of a pickled module.
"""

from __future__ import annotations

import torch
from torch import nn

from decig.core.errors import ManifestError
from decig.models.manifest import ArchManifest
from decig.models.patchgan import NLayerDiscriminator
from decig.models.resnet import ResnetGenerator
from decig.models.statedict import describe_mismatch, shapes_of
from decig.models.unet import UnetGenerator

Conv = (nn.Conv2d, nn.ConvTranspose2d)


def build_from_manifest(manifest: ArchManifest) -> nn.Module:
    """A freshly initialised model with exactly the manifest's architecture."""
    m = manifest
    if m.family == "unet":
        assert m.num_downs is not None
        return UnetGenerator(m.input_nc, m.output_nc, m.num_downs, m.ngf, m.norm, m.use_dropout, m.widths)
    if m.family == "resnet":
        assert m.n_blocks is not None
        return ResnetGenerator(m.input_nc, m.output_nc, m.ngf, m.norm, m.use_dropout, m.n_blocks, m.widths)
    assert m.n_layers is not None
    return NLayerDiscriminator(m.input_nc, m.ngf, m.n_layers, m.norm, m.widths)


def conv_out_channels(layer: nn.Conv2d | nn.ConvTranspose2d) -> int:
    """Output channels read from the weight tensor (the attribute may be stale after surgery).

    Conv2d weights are [out, in/groups, kH, kW]; ConvTranspose2d weights are [in, out/groups, kH, kW].
    """
    if isinstance(layer, nn.ConvTranspose2d):
        return layer.weight.shape[1] * layer.groups
    return layer.weight.shape[0]


def check_fits(state_dict: dict[str, torch.Tensor], manifest: ArchManifest, what: str) -> None:
    """Raise ManifestError unless ``state_dict`` has exactly the keys and shapes the manifest builds."""
    with torch.device("meta"):  # shapes only: no memory, no init cost
        expected = shapes_of(build_from_manifest(manifest).state_dict())
    problem = describe_mismatch(shapes_of(state_dict), expected, found_label=what, expected_label="manifest")
    if problem:
        raise ManifestError(f"{what} does not match its {manifest.family} manifest:\n{problem}")


def manifest_from_model(model: nn.Module, base: ArchManifest) -> ArchManifest:
    """``base`` with every conv width read from ``model``; verified to rebuild the same shapes.

    ``base`` supplies what widths cannot tell (family, norm, depth, input size). Raises
    ManifestError naming the layer when the model lacks a layer or breaks a coupling
    constraint, and listing the differing keys when the rebuild would not match.
    """
    widths: dict[str, int] = {}
    for name in base.widths:
        try:
            layer = model.get_submodule(name)
        except AttributeError:
            raise ManifestError(f"model has no layer {name!r} expected by its {base.family} manifest") from None
        if not isinstance(layer, Conv):
            raise ManifestError(f"layer {name!r} is a {type(layer).__name__}, expected a convolution")
        widths[name] = conv_out_channels(layer)
    manifest = base.with_widths(widths)
    check_fits(model.state_dict(), manifest, "model")
    return manifest


def fix_norm_num_features(model: nn.Module) -> int:
    """Set each norm's ``num_features`` to the width of the conv right before it; return how many changed.

    torch-pruning slices parameter tensors, so a norm without any (InstanceNorm with affine=False
    and no running stats) keeps its old ``num_features``: the forward pass is still correct but
    warns, and the attribute misreports the architecture. In all three families every norm
    directly follows its conv inside an ``nn.Sequential``.
    """
    changed = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        previous: nn.Module | None = None
        for layer in seq:
            if isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and isinstance(previous, Conv):
                channels = conv_out_channels(previous)
                if layer.num_features != channels:
                    layer.num_features = channels
                    changed += 1
            previous = layer
    return changed
