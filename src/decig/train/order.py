"""Which samples each optimizer step sees: a seeded, shardable, resumable epoch order.

The order of epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)``, so it
is a pure function of the config: nothing about it has to be saved beyond the position, and any
rank can compute any epoch's order without communication. For data-parallel training the
permutation is padded by wrapping around to a multiple of ``world_size`` and rank ``r`` takes
every ``world_size``-th index starting at ``r`` (``DistributedSampler``'s scheme), so all ranks
run the same number of batches and every sample is seen once per epoch (a few twice when padding).

Step ``s`` maps to ``(epoch, batch)`` by integer division, which is how a resumed run finds its
place: checkpoints record only the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from decig.core.errors import DataError
from decig.train.rng import derive_seed


@dataclass(frozen=True)
class EpochOrder:
    """Seeded per-epoch sample order for one rank, cut into batches of ``batch_size``.

    ``drop_last`` drops a final short batch: ranks stay in lock step either way, but a batch of
    one can break BatchNorm layers at 1x1 resolution, so callers may prefer dropping it.
    """

    num_samples: int
    batch_size: int
    seed: int
    rank: int = 0
    world_size: int = 1
    drop_last: bool = False

    def __post_init__(self) -> None:
        if self.num_samples <= 0:
            raise DataError("the training split is empty")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is outside world_size {self.world_size}")
        if self.batches_per_epoch == 0:
            raise DataError(
                f"the training split has {self.num_samples} samples, {self.per_rank} per rank over "
                f"{self.world_size} rank(s): fewer than one batch of {self.batch_size} with drop_last"
            )

    @property
    def per_rank(self) -> int:
        return math.ceil(self.num_samples / self.world_size)

    @property
    def batches_per_epoch(self) -> int:
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)

    def permutation(self, epoch: int) -> list[int]:
        """The full (unsharded) order of ``epoch``; identical on every rank."""
        gen = torch.Generator(device="cpu")
        gen.manual_seed(derive_seed(self.seed, "data-order", epoch))
        return torch.randperm(self.num_samples, generator=gen).tolist()

    def shard(self, epoch: int) -> list[int]:
        """This rank's indices for ``epoch``."""
        order = self.permutation(epoch)
        total = self.per_rank * self.world_size
        # Wrap around to make the order divisible by world_size (repeat only when it is shorter).
        padded = (order * math.ceil(total / len(order)))[:total]
        return padded[self.rank : total : self.world_size]

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """Index batches of ``epoch`` from batch number ``start`` on."""
        shard = self.shard(epoch)
        out = [shard[i : i + self.batch_size] for i in range(0, len(shard), self.batch_size)]
        return out[start : self.batches_per_epoch]

    def locate(self, step: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) that optimizer step ``step`` (0-based) consumes."""
        return divmod(step, self.batches_per_epoch)
