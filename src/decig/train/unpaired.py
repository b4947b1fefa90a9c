"""CycleGAN training step (unpaired A <-> B) with the DECIG Stage-I penalty on chosen generators.

Networks and names follow the reference ``CycleGANModel``: ``G_A: A -> B``, ``G_B: B -> A``,
``D_A`` judges domain B (real B vs ``G_A(A)``), ``D_B`` judges domain A. Per step:

1. forward: ``fake_B = G_A(A)``, ``rec_A = G_B(fake_B)``, ``fake_A = G_B(B)``, ``rec_B = G_A(fake_A)``
   and, when the identity loss is on, ``idt_A = G_A(B)``, ``idt_B = G_B(A)``.
2. generators, D frozen: ``GAN(D_A(fake_B), real) + GAN(D_B(fake_A), real)
   + λ·(‖rec_A − A‖₁ + ‖rec_B − B‖₁) + λ_idt·λ·(‖idt_A − B‖₁ + ‖idt_B − A‖₁) + α·L_PENAL``.
3. discriminators on images drawn from the history pools:
   ``½ (GAN(D_A(B), real) + GAN(D_A(pool_B(fake_B)), fake))`` and the same for D_B.

The paper calibrates α against its L1 loss; CycleGAN has no paired L1, so its L1 terms — cycle and
identity reconstruction, weighted as they enter the objective — take that role.

Both generators live in one optimizer and both discriminators in another, as in the reference.
For DDP each update is one forward of a step module (:class:`CycleGenerators`,
:class:`CycleDiscriminators`), see :mod:`decig.train.task`.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from decig.core.errors import CheckpointError, ConfigError
from decig.train.image_pool import ImagePool
from decig.train.losses import GANLoss
from decig.train.optim import adam
from decig.train.regularizer import PenaltyTerm
from decig.train.task import Batch, GANTask, set_requires_grad

PENALIZE_CHOICES = ("both", "G_A", "G_B")


class CycleGenerators(nn.Module):
    """All generator calls of one CycleGAN step in a single forward."""

    def __init__(self, g_a: nn.Module, g_b: nn.Module, identity: bool) -> None:
        super().__init__()
        self.G_A = g_a
        self.G_B = g_b
        self.identity = identity

    def forward(self, real_a: Tensor, real_b: Tensor) -> dict[str, Tensor]:
        fake_b = self.G_A(real_a)
        fake_a = self.G_B(real_b)
        out = {"fake_B": fake_b, "rec_A": self.G_B(fake_b), "fake_A": fake_a, "rec_B": self.G_A(fake_a)}
        if self.identity:
            out["idt_A"] = self.G_A(real_b)
            out["idt_B"] = self.G_B(real_a)
        return out


class CycleDiscriminators(nn.Module):
    """Both discriminators on real and (pooled) fake images in a single forward."""

    def __init__(self, d_a: nn.Module, d_b: nn.Module) -> None:
        super().__init__()
        self.D_A = d_a
        self.D_B = d_b

    def forward(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor) -> dict[str, Tensor]:
        return {
            "A_real": self.D_A(real_b),
            "A_fake": self.D_A(fake_b),
            "B_real": self.D_B(real_a),
            "B_fake": self.D_B(fake_a),
        }


class CycleGANTask(GANTask):
    kind = "unpaired"

    def __init__(
        self,
        g_a: nn.Module,
        g_b: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        *,
        lr: float,
        beta1: float,
        gan_mode: str = "lsgan",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        pool_seed: int = 0,
        penalize: str = "both",
        device: torch.device | str = "cpu",
    ) -> None:
        if penalize not in PENALIZE_CHOICES:
            raise ConfigError(f"stage1.penalty.penalize must be one of {', '.join(PENALIZE_CHOICES)}, got {penalize!r}")
        self.device = torch.device(device)
        self.G_A, self.G_B = g_a.to(self.device), g_b.to(self.device)
        self.D_A, self.D_B = d_a.to(self.device), d_b.to(self.device)
        for net in self.networks.values():
            net.train()
        self.gan = GANLoss(gan_mode)
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.penalize = penalize
        self.opt_G = adam(chain(self.G_A.parameters(), self.G_B.parameters()), lr, beta1)
        self.opt_D = adam(chain(self.D_A.parameters(), self.D_B.parameters()), lr, beta1)
        # pool_A stores generated A images (for D_B), pool_B generated B images (for D_A).
        self.pool_A = ImagePool(pool_size, seed=pool_seed)
        self.pool_B = ImagePool(pool_size, seed=pool_seed + 1)
        self.g_step: nn.Module = CycleGenerators(self.G_A, self.G_B, identity=lambda_identity > 0)
        self.d_step: nn.Module = CycleDiscriminators(self.D_A, self.D_B)

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}

    @property
    def optimizers(self) -> dict[str, Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    @property
    def penalized(self) -> dict[str, nn.Module]:
        if self.penalize == "both":
            return {"G_A": self.G_A, "G_B": self.G_B}
        return {self.penalize: self.networks[self.penalize]}

    def wrap(self, wrap_fn: Any) -> None:
        self.g_step = wrap_fn(self.g_step)
        self.d_step = wrap_fn(self.d_step)

    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        real_a = batch["A"].to(self.device, non_blocking=True)
        real_b = batch["B"].to(self.device, non_blocking=True)
        out = self.g_step(real_a, real_b)
        fake_a, fake_b = out["fake_A"], out["fake_B"]

        # Generators first (the reference order), discriminators frozen and unwrapped.
        set_requires_grad([self.D_A, self.D_B], False)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g_a = self.gan(self.D_A(fake_b), True)
        loss_g_b = self.gan(self.D_B(fake_a), True)
        loss_cycle_a = F.l1_loss(out["rec_A"], real_a) * self.lambda_cycle
        loss_cycle_b = F.l1_loss(out["rec_B"], real_b) * self.lambda_cycle
        zero = torch.zeros((), device=self.device)
        loss_idt_a = loss_idt_b = zero
        if "idt_A" in out:
            scale = self.lambda_cycle * self.lambda_identity
            loss_idt_a = F.l1_loss(out["idt_A"], real_b) * scale
            loss_idt_b = F.l1_loss(out["idt_B"], real_a) * scale
        loss_l1 = loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
        loss_penalty = penalty(loss_l1)
        loss_g = loss_g_a + loss_g_b + loss_l1 + loss_penalty
        loss_g.backward()
        self.opt_G.step()

        set_requires_grad([self.D_A, self.D_B], True)
        self.opt_D.zero_grad(set_to_none=True)
        pooled_b = self.pool_B.query(fake_b.detach())
        pooled_a = self.pool_A.query(fake_a.detach())
        pred = self.d_step(real_a, real_b, pooled_a, pooled_b)
        loss_d_a = 0.5 * (self.gan(pred["A_real"], True) + self.gan(pred["A_fake"], False))
        loss_d_b = 0.5 * (self.gan(pred["B_real"], True) + self.gan(pred["B_fake"], False))
        # One backward for both: the two discriminators share no parameters, so the gradients
        # equal the reference's two separate backward passes.
        (loss_d_a + loss_d_b).backward()
        self.opt_D.step()

        return {
            "loss_G": loss_g.detach(),
            "loss_G_A": loss_g_a.detach(),
            "loss_G_B": loss_g_b.detach(),
            "loss_cycle_A": loss_cycle_a.detach(),
            "loss_cycle_B": loss_cycle_b.detach(),
            "loss_idt_A": loss_idt_a.detach(),
            "loss_idt_B": loss_idt_b.detach(),
            "loss_G_penalty": loss_penalty.detach(),
            "loss_D_A": loss_d_a.detach(),
            "loss_D_B": loss_d_b.detach(),
        }

    def extra_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        try:
            self.pool_A.load_state_dict(state["pool_A"], self.device)
            self.pool_B.load_state_dict(state["pool_B"], self.device)
        except KeyError as err:
            raise CheckpointError(f"checkpoint lacks the CycleGAN image pool state {err}") from None
