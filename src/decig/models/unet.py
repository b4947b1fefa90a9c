"""pix2pix U-Net generator, state-dict compatible with the reference ``UnetGenerator``.

The network is a chain of nested skip blocks: level 0 (outermost) wraps level 1, which wraps
level 2, ... down to the innermost level ``num_downs - 1``. Each level halves the resolution with
a down conv and restores it with an up ConvTranspose; every level but the outermost returns
``cat([its input, its up output])``, so the up conv of level k reads
``width(down k) + width(up k+1)`` channels (just ``width(down k)`` at the innermost level).

Module indices inside each block's ``nn.Sequential`` follow the reference exactly, which is what
makes state-dict keys like ``model.model.1.model.3.model.1.weight`` line up. Widths are free per
layer, so channel-pruned U-Nets are expressible; the only coupling is that the outermost up conv
produces the image (``output_nc`` channels).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from decig.core.errors import ManifestError
from decig.models.layout import merge_widths, require_width
from decig.models.norms import conv_bias, make_norm

# The reference puts dropout only in the repeated ngf*8 -> ngf*8 blocks: levels 4 .. num_downs-2.
_FIRST_DROPOUT_LEVEL = 4
_MAX_MULT = 8


def unet_level_names(num_downs: int) -> list[tuple[str, str]]:
    """(down conv name, up conv name) for every level, outermost first."""
    if num_downs < 2:
        raise ManifestError(f"a U-Net needs num_downs >= 2 (outermost and innermost level), got {num_downs}")
    names = [("model.model.0", "model.model.3")]
    seq = "model.model.1.model"  # the Sequential of level 1
    for level in range(1, num_downs):
        innermost = level == num_downs - 1
        names.append((f"{seq}.1", f"{seq}.3" if innermost else f"{seq}.5"))
        seq = f"{seq}.3.model"
    return names


def unet_widths(num_downs: int, ngf: int, output_nc: int, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """All conv widths, reference defaults plus overrides.

    Ordered as the modules are registered: down convs outermost to innermost, then up convs
    innermost to outermost, so the output layer comes last.
    """
    levels = unet_level_names(num_downs)
    down = [ngf * min(2**level, _MAX_MULT) for level in range(num_downs)]
    defaults = {name: down[level] for level, (name, _) in enumerate(levels)}
    for level in reversed(range(num_downs)):
        # Symmetric reference: level k's up conv restores the channel count level k received.
        defaults[levels[level][1]] = output_nc if level == 0 else down[level - 1]
    widths = merge_widths("unet", defaults, overrides or {})
    require_width(widths, levels[0][1], output_nc, "the outermost up conv produces the output image (output_nc)")
    return widths


def check_unet_input_size(num_downs: int, size: tuple[int, int]) -> None:
    factor = 2**num_downs
    if size[0] % factor or size[1] % factor:
        raise ManifestError(
            f"U-Net with num_downs={num_downs} needs input height and width divisible by {factor}, "
            f"got {size[0]}x{size[1]}"
        )


def _dropout_at(level: int, num_downs: int) -> bool:
    return _FIRST_DROPOUT_LEVEL <= level <= num_downs - 2


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: ``x -> [down, submodule, up]`` and, unless outermost, ``cat([x, up])``.

    Layouts (indices matter for state-dict keys):
      outermost: [down conv, submodule, ReLU, up convT, Tanh]
      middle:    [LeakyReLU, down conv, norm, submodule, ReLU, up convT, norm (, Dropout)]
      innermost: [LeakyReLU, down conv, ReLU, up convT, norm]
    Dropout is appended last so it never shifts the indices of the layers with weights.
    """

    def __init__(
        self,
        in_nc: int,
        down_nc: int,
        up_nc: int,
        *,
        submodule: nn.Module | None = None,
        submodule_out_nc: int = 0,
        outermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        down = nn.Conv2d(in_nc, down_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        # In-place activations as in the reference: the LeakyReLU rewrites this block's input
        # tensor, so the skip half of cat([x, ...]) carries the *activated* x. Reference
        # checkpoints were trained with that behaviour; an out-of-place LeakyReLU would change outputs.
        layers: list[nn.Module]
        if outermost:
            assert submodule is not None, "num_downs >= 2 guarantees an inner level"
            up = nn.ConvTranspose2d(submodule_out_nc, up_nc, kernel_size=4, stride=2, padding=1, bias=True)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:
            up = nn.ConvTranspose2d(down_nc, up_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(norm, up_nc)]
        else:
            up = nn.ConvTranspose2d(submodule_out_nc, up_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                make_norm(norm, down_nc),
                submodule,
                nn.ReLU(True),
                up,
                make_norm(norm, up_nc),
            ]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix U-Net; ``widths`` overrides per-layer output channels (see :func:`unet_widths`)."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        widths: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        resolved = unet_widths(num_downs, ngf, output_nc, widths)
        levels = unet_level_names(num_downs)
        down = [resolved[name] for name, _ in levels]
        up = [resolved[name] for _, name in levels]
        # What each level receives: the image at level 0, the parent's down output below.
        in_nc = [input_nc, *down[:-1]]
        block: nn.Module | None = None
        block_out = 0
        for level in reversed(range(num_downs)):
            block = UnetSkipConnectionBlock(
                in_nc[level],
                down[level],
                up[level],
                submodule=block,
                submodule_out_nc=block_out,
                outermost=level == 0,
                norm=norm,
                use_dropout=use_dropout and _dropout_at(level, num_downs),
            )
            block_out = in_nc[level] + up[level]
        self.model = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
