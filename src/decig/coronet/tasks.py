"""pix2pix and CycleGAN recipes with CoroNet generators, for the shared :class:`~decig.train.loop.Trainer`.

The GAN objective and the update order are exactly those of :mod:`decig.train.paired` and
:mod:`decig.train.unpaired` (these classes extend them); what differs:

* the generator optimizer has two parameter groups, the latents (``coronet.lr_latent``) and the
  hypernetwork + norm/bias parameters (``coronet.lr``), both decayed by the loop's schedule;
* after the generator's optimizer step the :class:`~decig.coronet.sparsify.Sparsifier` applies the
  proximal L1 step. A task owns its optimizer steps, so this hook needs no change to the loop;
* the DECIG channel penalty is not used (the loop is given a disabled ``PenaltyTerm``).

Data-parallel training is not supported: the proximal step would have to be agreed across ranks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Adam

from decig.coronet.hypernet import CoroNetGenerator
from decig.coronet.sparsify import Sparsifier
from decig.core.errors import CheckpointError
from decig.train.paired import Pix2PixTask
from decig.train.regularizer import PenaltyTerm
from decig.train.task import Batch
from decig.train.unpaired import CycleGANTask

# Index of the latents' param group. The other group comes first: the loop logs param_groups[0]'s
# LR as lr_G, which should be the generator's main LR as in the other recipes.
LATENT_GROUP = 1


def generator_optimizer(generators: list[CoroNetGenerator], lr: float, lr_latent: float, beta1: float) -> Adam:
    latents = [p for g in generators for p in g.latent_parameters()]
    others = [p for g in generators for p in g.other_parameters()]
    return Adam([{"params": others, "lr": lr}, {"params": latents, "lr": lr_latent}], betas=(beta1, 0.999))


class _SparsifyingMixin:
    opt_G: Adam
    sparsifier: Sparsifier | None

    def _after_generator_step(self, losses: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.sparsifier is None:
            raise RuntimeError("attach a Sparsifier (task.sparsifier = ...) before training")
        lr_latent = float(self.opt_G.param_groups[LATENT_GROUP]["lr"])
        losses.update(self.sparsifier.after_step(lr_latent))
        return losses

    def extra_state(self) -> dict[str, Any]:
        state = super().extra_state()  # type: ignore[misc]
        if self.sparsifier is not None:
            state["sparsifier"] = self.sparsifier.state_dict()
        return state

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        super().load_extra_state(state)  # type: ignore[misc]
        if self.sparsifier is not None:
            if "sparsifier" not in state:
                raise CheckpointError("checkpoint lacks the CoroNet sparsifier state")
            self.sparsifier.load_state_dict(state["sparsifier"])


class CoronetPix2PixTask(_SparsifyingMixin, Pix2PixTask):
    kind = "coronet-paired"

    def __init__(
        self, generator: CoroNetGenerator, discriminator: nn.Module, *, lr: float, lr_latent: float, beta1: float,
        gan_mode: str = "vanilla", lambda_l1: float = 100.0, device: torch.device | str = "cpu",
    ) -> None:  # fmt: skip
        super().__init__(generator, discriminator, lr=lr, beta1=beta1, gan_mode=gan_mode, lambda_l1=lambda_l1, device=device)
        self.opt_G = generator_optimizer([generator], lr, lr_latent, beta1)
        self.sparsifier = None

    @property
    def penalized(self) -> dict[str, nn.Module]:
        return {}

    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        return self._after_generator_step(super().train_step(batch, penalty))


class CoronetCycleGANTask(_SparsifyingMixin, CycleGANTask):
    kind = "coronet-unpaired"

    def __init__(
        self, g_a: CoroNetGenerator, g_b: CoroNetGenerator, d_a: nn.Module, d_b: nn.Module, *, lr: float,
        lr_latent: float, beta1: float, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(g_a, g_b, d_a, d_b, lr=lr, beta1=beta1, **kwargs)
        self.opt_G = generator_optimizer([g_a, g_b], lr, lr_latent, beta1)
        self.sparsifier = None

    @property
    def penalized(self) -> dict[str, nn.Module]:
        return {}

    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        return self._after_generator_step(super().train_step(batch, penalty))
