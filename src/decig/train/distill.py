"""Student-teacher fine-tuning step for paired (pix2pix) data: DECIG Stage II after pruning.

The pruned generator (student) is trained against the frozen Stage-I generator (teacher). Per step,
as :class:`~decig.train.paired.Pix2PixTask` but with a distillation term and no channel penalty:

1. ``fake_B = S(A)``, ``teach_B = T(A)`` (teacher in eval mode, under ``torch.no_grad``)
2. discriminator: ``L_D = ½ (GAN(D([A, fake_B]), fake) + GAN(D([A, B]), real))``; Adam step on D.
3. student, D frozen: ``L_S = λ_GAN·GAN(D([A, fake_B]), real) + λ_L1·L1(fake_B, B) + λ_distill·L1(fake_B, teach_B)``.

The teacher is not one of :attr:`networks`: it is never checkpointed, wrapped by DDP or handed to an
optimizer, and its parameters have ``requires_grad=False``. A resumed run reloads it from its saved
directory (the checkpoint meta records its sha256, so a different teacher is refused).
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


def freeze_teacher(teacher: nn.Module) -> nn.Module:
    """Eval mode (running BatchNorm statistics, no dropout) and no gradients, in place."""
    teacher.eval()
    set_requires_grad(teacher, False)
    return teacher


class DistillTask(GANTask):
    kind = "distill"

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        discriminator: nn.Module,
        *,
        lr: float,
        beta1: float,
        gan_mode: str = "vanilla",
        lambda_gan: float = 1.0,
        lambda_l1: float = 100.0,
        lambda_distill: float = 100.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.G = student.to(self.device)
        self.T = freeze_teacher(teacher.to(self.device))
        self.D = discriminator.to(self.device)
        self.G.train()
        self.D.train()
        self.gan = GANLoss(gan_mode)
        self.lambda_gan = lambda_gan
        self.lambda_l1 = lambda_l1
        self.lambda_distill = lambda_distill
        self.opt_G = adam(self.G.parameters(), lr, beta1)
        self.opt_D = adam(self.D.parameters(), lr, beta1)
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
        return {}  # fine-tuning carries no channel penalty

    def wrap(self, wrap_fn: Any) -> None:
        self.g_step = wrap_fn(self.G)
        self.d_step = wrap_fn(PairForward(self.D))

    @torch.no_grad()
    def teacher_output(self, real_a: Tensor) -> Tensor:
        # Re-asserted every call: something (a user's .train() on a parent) may have flipped it.
        self.T.eval()
        return self.T(real_a)

    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        real_a = batch["A"].to(self.device, non_blocking=True)
        real_b = batch["B"].to(self.device, non_blocking=True)
        teach_b = self.teacher_output(real_a)
        fake_b = self.g_step(real_a)

        set_requires_grad(self.D, True)
        self.opt_D.zero_grad(set_to_none=True)
        pred_fake, pred_real = self.d_step(torch.cat([real_a, fake_b.detach()], 1), torch.cat([real_a, real_b], 1))
        loss_d_fake = self.gan(pred_fake, False)
        loss_d_real = self.gan(pred_real, True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        loss_d.backward()
        self.opt_D.step()

        set_requires_grad(self.D, False)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g_gan = self.gan(self.D(torch.cat([real_a, fake_b], 1)), True) * self.lambda_gan
        l1_gt = F.l1_loss(fake_b, real_b)
        l1_teacher = F.l1_loss(fake_b, teach_b)
        loss_g_l1 = l1_gt * self.lambda_l1
        loss_g_distill = l1_teacher * self.lambda_distill
        # A zero weight multiplies a term by 0 rather than dropping it, so the graph (and DDP's
        # gradient buckets) is the same whatever the weights.
        loss_g = loss_g_gan + loss_g_l1 + loss_g_distill
        loss_g.backward()
        self.opt_G.step()
        set_requires_grad(self.D, True)

        return {
            "loss_G": loss_g.detach(),
            "loss_G_GAN": loss_g_gan.detach(),
            "loss_G_L1": loss_g_l1.detach(),
            "loss_G_distill": loss_g_distill.detach(),
            "l1_to_ground_truth": l1_gt.detach(),
            "l1_to_teacher": l1_teacher.detach(),
            "loss_D": loss_d.detach(),
            "loss_D_real": loss_d_real.detach(),
            "loss_D_fake": loss_d_fake.detach(),
        }
