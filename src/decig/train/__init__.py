"""Stage I training: pix2pix / CycleGAN loops with the DECIG channel penalty, exact resume and DDP.

Entry point: :func:`train_stage1` (also ``decig train``). The pieces, one job per module:

- ``paired`` / ``unpaired``: the pix2pix and CycleGAN training steps (:class:`GANTask` recipes)
- ``loop``: the shared step loop (data order, LR schedule, NaN checks, metrics, checkpoints)
- ``regularizer``: α·L_PENAL with first-iteration α calibration and the l(i) factors
- ``checkpoint`` / ``rng``: atomic, rotating, ``weights_only``-loadable checkpoints and RNG states
- ``distributed``: torchrun/DDP context; ``order``: seeded, sharded, resumable sample order
- ``channel_stats``: sorted per-channel magnitudes (JSON for the hinge stage, Fig. 2-style plot)
"""

from decig.core.lazy import lazy_namespace

# Names resolve on first use (see decig.core.lazy): importing one submodule must not load them all.
_LAZY = {
    "compute_channel_stats": "decig.train.channel_stats",
    "plot_channel_stats": "decig.train.channel_stats",
    "read_channel_stats": "decig.train.channel_stats",
    "write_channel_stats": "decig.train.channel_stats",
    "CheckpointManager": "decig.train.checkpoint",
    "read_checkpoint": "decig.train.checkpoint",
    "DistContext": "decig.train.distributed",
    "init_distributed": "decig.train.distributed",
    "init_weights": "decig.train.init",
    "LoopResult": "decig.train.loop",
    "LoopSettings": "decig.train.loop",
    "NonFiniteLossError": "decig.core.errors",
    "Trainer": "decig.train.loop",
    "GANLoss": "decig.train.losses",
    "EpochOrder": "decig.train.order",
    "Pix2PixTask": "decig.train.paired",
    "PenaltyTerm": "decig.train.regularizer",
    "layer_factors": "decig.train.regularizer",
    "train_stage1": "decig.train.stage1",
    "GANTask": "decig.train.task",
    "CycleGANTask": "decig.train.unpaired",
}

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

__getattr__, __dir__ = lazy_namespace(__name__, _LAZY)
