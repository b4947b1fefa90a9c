"""Normalization layers exactly as the pix2pix/CycleGAN reference configures them.

The choice of norm also decides whether convolutions carry a bias: a BatchNorm right after a conv
subtracts the batch mean, so a conv bias would be dead weight and the reference leaves it out;
InstanceNorm here has no affine parameters, so the reference keeps the conv bias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads only when a layer is built: `decig --help` lists NORMS without it
    from torch import nn

from decig.core.errors import ManifestError

NORMS = ("batch", "instance")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ManifestError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")


def make_norm(norm: str, channels: int) -> nn.Module:
    """A norm layer over ``channels`` feature maps, configured like the reference."""
    from torch import nn

    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    # Current reference code: no affine, no running stats (so checkpoints hold no norm keys).
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by this norm carries a bias in the reference."""
    check_norm(norm)
    return norm == "instance"
