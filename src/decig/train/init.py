"""Weight initialisation exactly as pix2pix / CycleGAN's ``init_weights``.

Conv and linear weights are drawn from the chosen scheme (default N(0, 0.02)) with zero biases;
BatchNorm scales are drawn from N(1, gain) with zero shifts. PyTorch's own defaults (Kaiming
uniform) train these GANs noticeably differently, and the Stage-I penalty is calibrated against
the initial weights (α at the first iteration), so matching the reference here matters.
"""

from __future__ import annotations

from torch import nn

from decig.core.errors import ConfigError

INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(model: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``model`` in place (uses torch's global RNG) and return it."""
    if kind not in INIT_KINDS:
        raise ConfigError(f"unknown init {kind!r}; choose one of {', '.join(INIT_KINDS)}")
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if kind == "normal":
                nn.init.normal_(module.weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(module.weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            # The reference uses N(1, gain) for BatchNorm whatever the conv scheme.
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return model
