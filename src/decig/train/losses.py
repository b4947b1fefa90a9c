"""Adversarial losses of pix2pix / CycleGAN: ``vanilla`` (the original GAN objective) and ``lsgan``.

``vanilla`` is the paper's L_GAN (Eq. 2): the discriminator outputs logits and the loss is binary
cross-entropy against "real" (1) or "fake" (0) labels. It uses ``binary_cross_entropy_with_logits``
instead of a sigmoid followed by BCE because the fused form is numerically stable for large
logits. ``lsgan`` replaces the cross-entropy with a mean squared error (Mao et al.), which CycleGAN
trains with by default.

The generator uses the *non-saturating* form (target "real" for its fakes), as the reference does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from decig.core.errors import ConfigError

GAN_MODES = ("vanilla", "lsgan")


class GANLoss:
    """``loss(prediction, target_is_real)`` for a PatchGAN score map of any shape.

    The label tensor is made with ``torch.full_like`` on every call, so it always matches the
    prediction's shape, dtype and device (the reference caches it, which breaks when the patch map
    size changes between calls).
    """

    def __init__(self, mode: str, real_label: float = 1.0, fake_label: float = 0.0) -> None:
        if mode not in GAN_MODES:
            raise ConfigError(f"unknown gan_mode {mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.mode = mode
        self.real_label = real_label
        self.fake_label = fake_label

    def __call__(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)
