"""PatchGAN discriminator, state-dict compatible with the reference ``NLayerDiscriminator``.

Layout of ``model`` with L = n_layers: conv s2 (index 0) + LeakyReLU; for n = 1 .. L-1 a block of
[conv s2, norm, LeakyReLU] starting at index 2 + 3(n-1); then [conv s1, norm, LeakyReLU] at
2 + 3(L-1); then the 1-channel conv s1 at 5 + 3(L-1). L = 3 is the 70x70 PatchGAN of pix2pix.
For a conditional (pix2pix) D, ``input_nc`` is input image + output image channels (3 + 3 = 6).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from decig.core.errors import ManifestError
from decig.models.layout import merge_widths, require_width
from decig.models.norms import conv_bias, make_norm

_MAX_MULT = 8
_KERNEL = 4


def patchgan_conv_names(n_layers: int) -> list[str]:
    if n_layers < 1:
        raise ManifestError(f"PatchGAN needs n_layers >= 1, got {n_layers}")
    return ["model.0", *(f"model.{2 + 3 * (n - 1)}" for n in range(1, n_layers + 1)), f"model.{5 + 3 * (n_layers - 1)}"]


def patchgan_widths(n_layers: int, ndf: int, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """All conv widths: ndf * min(2**n, 8) for n = 0 .. n_layers, then the 1-channel patch map."""
    names = patchgan_conv_names(n_layers)
    defaults = {name: ndf * min(2**n, _MAX_MULT) for n, name in enumerate(names[:-1])}
    defaults[names[-1]] = 1
    widths = merge_widths("patchgan", defaults, overrides or {})
    require_width(widths, names[-1], 1, "the discriminator outputs one real/fake score per patch")
    return widths


def patchgan_output_size(n_layers: int, size: tuple[int, int]) -> tuple[int, int]:
    """Spatial size of the patch map: n_layers stride-2 convs, then two stride-1 convs (k4, p1)."""

    def one(length: int) -> int:
        for _ in range(n_layers):
            length = (length + 2 - _KERNEL) // 2 + 1
        return length - 2  # each k4/p1/s1 conv shrinks by one

    return one(size[0]), one(size[1])


def check_patchgan_input_size(n_layers: int, size: tuple[int, int]) -> None:
    out = patchgan_output_size(n_layers, size)
    if min(out) < 1:
        raise ManifestError(f"PatchGAN with n_layers={n_layers} needs a larger input than {size[0]}x{size[1]}")


class NLayerDiscriminator(nn.Module):
    """PatchGAN; ``widths`` overrides per-layer output channels (see :func:`patchgan_widths`)."""

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        widths: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        w = patchgan_widths(n_layers, ndf, widths)
        names = patchgan_conv_names(n_layers)
        bias = conv_bias(norm)
        # The first conv has no norm after it, so it always keeps its bias (as in the reference).
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, w[names[0]], kernel_size=_KERNEL, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        for n in range(1, n_layers + 1):
            prev, cur = w[names[n - 1]], w[names[n]]
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(prev, cur, kernel_size=_KERNEL, stride=stride, padding=1, bias=bias),
                make_norm(norm, cur),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(w[names[-2]], 1, kernel_size=_KERNEL, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
