"""Optimizers and the learning-rate schedule of pix2pix / CycleGAN training, counted in steps.

The reference keeps the learning rate constant for ``n_epochs`` and then decays it linearly to
zero over ``n_epochs_decay``. Stage I trains by optimizer steps, so the same shape is expressed
per step: constant until ``decay_from * steps``, then linear towards 0 at ``steps``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import Adam, Optimizer
from torch.optim.lr_scheduler import LambdaLR


class LinearDecay:
    """LR multiplier for step ``s`` (0-based): 1 before the decay start, then ``(steps - s) / (steps - start)``.

    A class rather than a closure: ``LambdaLR.state_dict`` stores a callable object's ``__dict__``
    (two ints here), which keeps scheduler checkpoints loadable with ``weights_only=True``.
    """

    def __init__(self, steps: int, decay_from: float) -> None:
        if steps <= 0:
            raise ValueError(f"steps must be positive, got {steps}")
        if not 0.0 <= decay_from <= 1.0:
            raise ValueError(f"decay_from must lie in [0, 1], got {decay_from}")
        self.steps = steps
        self.start = math.floor(decay_from * steps)

    def __call__(self, step: int) -> float:
        if step < self.start or self.start >= self.steps:
            return 1.0
        # The last step (steps - 1) still trains with a small positive rate; 0 would be a wasted step.
        return max(0.0, (self.steps - step) / (self.steps - self.start))


def adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float) -> Adam:
    """Adam with the GAN betas (beta1 from the config, beta2 = 0.999) as in pix2pix."""
    return Adam(params, lr=lr, betas=(beta1, 0.999))


def linear_decay(optimizer: Optimizer, steps: int, decay_from: float) -> LambdaLR:
    return LambdaLR(optimizer, lr_lambda=LinearDecay(steps, decay_from))
