"""pix2pix training step (paired A -> B) with the DECIG Stage-I objective.

Per step, as the reference ``Pix2PixModel.optimize_parameters``:

1. ``fake_B = G(A)``
2. discriminator: ``L_D = ½ (GAN(D([A, fake_B]), fake) + GAN(D([A, B]), real))``; Adam step on D.
   D is conditional: it sees the input and the output image concatenated on channels (3 + 3).
3. generator, D frozen: ``L_G = GAN(D([A, fake_B]), real) + λ·L1(fake_B, B) + α·L_PENAL``; Adam step on G.

The paper's ``L_L1`` in the α calibration is the weighted term ``λ·L1`` exactly as it enters the
generator objective (λ = ``stage1.lambda_l1``, 100 by default).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from decig.train.losses import GANLoss
from decig.train.optim import adam
from decig.train.regularizer import PenaltyTerm
from decig.train.task import Batch, GANTask, PairForward, set_requires_grad


class Pix2PixTask(GANTask):
    kind = "paired"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        lr: float,
        beta1: float,
        gan_mode: str = "vanilla",
        lambda_l1: float = 100.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.G = generator.to(self.device)
        self.D = discriminator.to(self.device)
        self.G.train()
        self.D.train()
        self.gan = GANLoss(gan_mode)
        self.lambda_l1 = lambda_l1
        self.opt_G = adam(self.G.parameters(), lr, beta1)
        self.opt_D = adam(self.D.parameters(), lr, beta1)
        # Step modules; replaced by DDP wrappers in distributed runs (see decig.train.task).
        self.g_step: nn.Module = self.G
        self.d_step: nn.Module = PairForward(self.D)

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    @property
    def optimizers(self) -> dict[str, Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    @property
    def penalized(self) -> dict[str, nn.Module]:
        return {"G": self.G}

    def wrap(self, wrap_fn: Any) -> None:
        self.g_step = wrap_fn(self.G)
        self.d_step = wrap_fn(PairForward(self.D))

    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        real_a = batch["A"].to(self.device, non_blocking=True)
        real_b = batch["B"].to(self.device, non_blocking=True)
        fake_b = self.g_step(real_a)

        # Discriminator: fake first, then real, as the reference (the order of BatchNorm updates).
        set_requires_grad(self.D, True)
        self.opt_D.zero_grad(set_to_none=True)
        pred_fake, pred_real = self.d_step(torch.cat([real_a, fake_b.detach()], 1), torch.cat([real_a, real_b], 1))
        loss_d_fake = self.gan(pred_fake, False)
        loss_d_real = self.gan(pred_real, True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        loss_d.backward()
        self.opt_D.step()

        # Generator: the unwrapped D, frozen, so no D gradients are computed or synchronised.
        set_requires_grad(self.D, False)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g_gan = self.gan(self.D(torch.cat([real_a, fake_b], 1)), True)
        loss_g_l1 = F.l1_loss(fake_b, real_b) * self.lambda_l1
        loss_penalty = penalty(loss_g_l1)
        loss_g = loss_g_gan + loss_g_l1 + loss_penalty
        loss_g.backward()
        self.opt_G.step()
        set_requires_grad(self.D, True)

        return {
            "loss_G": loss_g.detach(),
            "loss_G_GAN": loss_g_gan.detach(),
            "loss_G_L1": loss_g_l1.detach(),
            "loss_G_penalty": loss_penalty.detach(),
            "loss_D": loss_d.detach(),
            "loss_D_real": loss_d_real.detach(),
            "loss_D_fake": loss_d_fake.detach(),
        }
