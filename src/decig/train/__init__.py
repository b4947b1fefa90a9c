"""Stage I training: pix2pix / CycleGAN loops with the DECIG channel penalty, exact resume and DDP.

Entry point: :func:`train_stage1` (also ``decig train``). The pieces, one job per module:

- ``paired`` / ``unpaired``: the pix2pix and CycleGAN training steps (:class:`GANTask` recipes)
- ``loop``: the shared step loop (data order, LR schedule, NaN checks, metrics, checkpoints)
- ``regularizer``: α·L_PENAL with first-iteration α calibration and the l(i) factors
- ``checkpoint`` / ``rng``: atomic, rotating, ``weights_only``-loadable checkpoints and RNG states
- ``distributed``: torchrun/DDP context; ``order``: seeded, sharded, resumable sample order
- ``channel_stats``: sorted per-channel magnitudes (JSON for the hinge stage, Fig. 2-style plot)
"""

from decig.train.channel_stats import (
    compute_channel_stats,
    plot_channel_stats,
    read_channel_stats,
    write_channel_stats,
)
from decig.train.checkpoint import CheckpointManager, read_checkpoint
from decig.train.distributed import DistContext, init_distributed
from decig.train.init import init_weights
from decig.train.loop import LoopResult, LoopSettings, NonFiniteLossError, Trainer
from decig.train.losses import GANLoss
from decig.train.order import EpochOrder
from decig.train.paired import Pix2PixTask
from decig.train.regularizer import PenaltyTerm, layer_factors
from decig.train.stage1 import train_stage1
from decig.train.task import GANTask
from decig.train.unpaired import CycleGANTask

__all__ = [
    "CheckpointManager",
    "CycleGANTask",
    "DistContext",
    "EpochOrder",
    "GANLoss",
    "GANTask",
    "LoopResult",
    "LoopSettings",
    "NonFiniteLossError",
    "PenaltyTerm",
    "Pix2PixTask",
    "Trainer",
    "compute_channel_stats",
    "init_distributed",
    "init_weights",
    "layer_factors",
    "plot_channel_stats",
    "read_channel_stats",
    "read_checkpoint",
    "train_stage1",
    "write_channel_stats",
]
