"""What the shared training loop needs from a GAN recipe (pix2pix, CycleGAN).

A task owns its networks and optimizers and knows how to run one optimizer step on a batch;
everything around that step (data order, α·L_PENAL, LR schedules, finite-loss checks, metrics,
checkpoints, DDP) lives once in :mod:`decig.train.loop`.

DDP and multiple forward passes: DistributedDataParallel expects one forward per wrapped module
per backward. The recipes call a discriminator twice per update (real and fake, separately so
BatchNorm statistics match the reference) and CycleGAN calls each generator up to three times.
So each recipe wraps a small *step module* that performs all calls of one update in a single
forward (:class:`PairForward`, and CycleGAN's generator pair), and the *unwrapped* discriminator
is used inside the generator update, where its weights are frozen and need no gradient sync.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer

from decig.train.regularizer import PenaltyTerm

Batch = Mapping[str, Any]


def set_requires_grad(modules: nn.Module | list[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze parameters (the discriminator during the generator update)."""
    for module in modules if isinstance(modules, list) else [modules]:
        for p in module.parameters():
            p.requires_grad_(flag)


class PairForward(nn.Module):
    """Runs ``net`` on two inputs in one forward: ``(net(x1), net(x2))``.

    Exists so DDP sees one forward per backward while the two inputs keep separate BatchNorm
    statistics (concatenating them into one batch would change the reference's behaviour).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        return self.net(x1), self.net(x2)


class GANTask(abc.ABC):
    """A recipe: networks, optimizers and one training step. Subclasses fill the abstract parts."""

    #: recorded in checkpoints; a checkpoint of another kind is refused on resume
    kind: str

    @property
    @abc.abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """Every trained network by name, *unwrapped* (checkpoints store these state dicts)."""

    @property
    @abc.abstractmethod
    def optimizers(self) -> dict[str, Optimizer]:
        """Every optimizer by name; the loop attaches one LR schedule to each."""

    @property
    @abc.abstractmethod
    def penalized(self) -> dict[str, nn.Module]:
        """The generators the channel penalty applies to (the ones Stage II will prune)."""

    @abc.abstractmethod
    def wrap(self, wrap_fn: Any) -> None:
        """Wrap the step modules with ``wrap_fn`` (DDP when distributed, identity otherwise)."""

    @abc.abstractmethod
    def train_step(self, batch: Batch, penalty: PenaltyTerm) -> dict[str, Tensor]:
        """One update of every network on ``batch``; returns the detached scalar losses by name."""

    def extra_state(self) -> dict[str, Any]:
        """Per-rank state beyond networks and optimizers (e.g. image pools); tensors/ints only."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`extra_state`."""
