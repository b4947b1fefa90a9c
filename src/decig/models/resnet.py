"""CycleGAN ResNet generator, state-dict compatible with the reference ``ResnetGenerator``.

Layout of ``model`` (an ``nn.Sequential``), with n = n_blocks:
  0 pad7, 1 conv7 (stem), 2 norm, 3 ReLU,
  4 conv s2, 5 norm, 6 ReLU, 7 conv s2 (the trunk width), 8 norm, 9 ReLU,
  10 .. 9+n ResnetBlocks,
  10+n convT s2, 11+n norm, 12+n ReLU, 13+n convT s2, 14+n norm, 15+n ReLU,
  16+n pad7, 17+n conv7 (output image), 18+n Tanh.

Every residual block adds its input to its output, so the trunk width (``model.7``) and the second
conv of every block are one coupled channel group: pruning one channel of the trunk prunes it
everywhere. The first conv of each block (the block's hidden width) is free.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from decig.core.errors import ManifestError
from decig.models.layout import merge_widths, require_width
from decig.models.norms import conv_bias, make_norm

N_DOWNSAMPLING = 2  # fixed in the reference; the input must be divisible by 2**N_DOWNSAMPLING
_TRUNK = "model.7"


def resnet_block_conv_names(n_blocks: int, use_dropout: bool) -> list[tuple[str, str]]:
    """(first conv, second conv) of every residual block."""
    # The reference inserts Dropout between the two convs, which shifts the second conv's index.
    second = 6 if use_dropout else 5
    return [(f"model.{10 + i}.conv_block.1", f"model.{10 + i}.conv_block.{second}") for i in range(n_blocks)]


def resnet_final_name(n_blocks: int) -> str:
    return f"model.{17 + n_blocks}"


def resnet_widths(
    n_blocks: int, ngf: int, output_nc: int, use_dropout: bool, overrides: Mapping[str, int] | None = None
) -> dict[str, int]:
    """All conv widths in model order: reference defaults plus overrides, coupling checked."""
    if n_blocks < 0:
        raise ManifestError(f"n_blocks must be >= 0, got {n_blocks}")
    trunk = ngf * 2**N_DOWNSAMPLING
    defaults = {"model.1": ngf, "model.4": ngf * 2, _TRUNK: trunk}
    for first, second in resnet_block_conv_names(n_blocks, use_dropout):
        defaults[first] = trunk
        defaults[second] = trunk
    defaults[f"model.{10 + n_blocks}"] = ngf * 2
    defaults[f"model.{13 + n_blocks}"] = ngf
    defaults[resnet_final_name(n_blocks)] = output_nc
    widths = merge_widths("resnet", defaults, overrides or {})
    for _, second in resnet_block_conv_names(n_blocks, use_dropout):
        require_width(widths, second, widths[_TRUNK], f"a residual block adds its output to the trunk ({_TRUNK!r})")
    require_width(widths, resnet_final_name(n_blocks), output_nc, "the last conv produces the output image (output_nc)")
    return widths


def check_resnet_input_size(size: tuple[int, int]) -> None:
    factor = 2**N_DOWNSAMPLING
    if size[0] % factor or size[1] % factor:
        raise ManifestError(
            f"ResNet generator needs input height and width divisible by {factor}, got {size[0]}x{size[1]}"
        )


class ResnetBlock(nn.Module):
    """``x + conv_block(x)`` with reflection padding; ``hidden_nc`` is the free inner width."""

    def __init__(self, dim: int, hidden_nc: int, norm: str, use_dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, hidden_nc, kernel_size=3, bias=bias),
            make_norm(norm, hidden_nc),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(hidden_nc, dim, kernel_size=3, bias=bias), make_norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator; ``widths`` overrides per-layer output channels."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        widths: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        w = resnet_widths(n_blocks, ngf, output_nc, use_dropout, widths)
        bias = conv_bias(norm)
        stem, down1, trunk = w["model.1"], w["model.4"], w[_TRUNK]
        up1, up2 = w[f"model.{10 + n_blocks}"], w[f"model.{13 + n_blocks}"]
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, stem, kernel_size=7, bias=bias),
            make_norm(norm, stem),
            nn.ReLU(True),
            nn.Conv2d(stem, down1, kernel_size=3, stride=2, padding=1, bias=bias),
            make_norm(norm, down1),
            nn.ReLU(True),
            nn.Conv2d(down1, trunk, kernel_size=3, stride=2, padding=1, bias=bias),
            make_norm(norm, trunk),
            nn.ReLU(True),
        ]
        layers += [
            ResnetBlock(trunk, w[first], norm, use_dropout)
            for first, _ in resnet_block_conv_names(n_blocks, use_dropout)
        ]
        layers += [
            nn.ConvTranspose2d(trunk, up1, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias),
            make_norm(norm, up1),
            nn.ReLU(True),
            nn.ConvTranspose2d(up1, up2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias),
            make_norm(norm, up2),
            nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(up2, output_nc, kernel_size=7),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
