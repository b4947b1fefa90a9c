"""Data-parallel training under ``torchrun``: process group, device per rank, DDP wrapping.

Launched with ``torchrun --nproc_per_node=N``, each process finds ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK`` in its environment; without them training runs as a single process and every helper
here degrades to a no-op, so the training loop has one code path for both cases.

The backend follows the training device: ``nccl`` for CUDA, ``gloo`` for CPU (nccl cannot move
CPU tensors, gloo is slow on GPUs). Each CUDA rank uses ``cuda:LOCAL_RANK``.

Only rank 0 writes files (checkpoints, statistics, logs); everything that decides control flow
(losses being finite, α) is agreed on through collectives so ranks can never diverge into a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from decig.core.errors import ConfigError
from decig.core.log import get_logger

log = get_logger(__name__)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer (set by torchrun?)") from None


def resolve_train_device(name: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """Turn a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into the device this rank trains on."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown training device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"training device {name!r} requested but CUDA is not available on this machine")
        if world_size > 1:
            if device.index is not None:
                raise ConfigError(
                    f"training device {name!r} names one GPU, but data-parallel runs place rank k on cuda:LOCAL_RANK; "
                    "use 'cuda' (restrict GPUs with CUDA_VISIBLE_DEVICES)"
                )
            device = torch.device("cuda", local_rank)
        if (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"training device {device} does not exist ({torch.cuda.device_count()} GPU(s) visible)")
    elif device.type != "cpu":
        raise ConfigError(f"training on {device.type!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job. ``backend`` is None when running single-process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` under DDP when distributed (gradients averaged across ranks), else unchanged.

        DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts from
        identical weights, and rank 0's BatchNorm statistics before every forward.
        """
        if not self.distributed:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def sync_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

        DDP broadcasts buffers at the start of each forward, so after the last forward every rank
        holds running statistics of its own last batch. Rank 0's are the ones saved; syncing makes
        every rank end with the model that was written.
        """
        if not self.distributed:
            return
        for buf in module.buffers():
            dist.broadcast(buf.data, src=0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_(self, tensor: Tensor, op: str = "sum") -> Tensor:
        """In-place all-reduce (``sum``/``max``/``mean``); identity when single-process."""
        if not self.distributed:
            return tensor
        reduce_op = dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM
        dist.all_reduce(tensor, op=reduce_op)
        if op == "mean":
            tensor.div_(self.world_size)
        return tensor


def init_distributed(device_name: str) -> DistContext:
    """Read the torchrun environment, pick the device and backend, join the process group."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"inconsistent distributed environment: RANK={rank} WORLD_SIZE={world_size}")
    device = resolve_train_device(device_name, local_rank, world_size)
    if world_size == 1:
        return DistContext(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        # An outer launcher already joined the group; it must match what this run expects.
        if dist.get_world_size() != world_size or dist.get_rank() != rank:
            raise ConfigError("an existing process group does not match RANK/WORLD_SIZE of this process")
    else:
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    log.info("rank %d/%d on %s (backend %s)", rank, world_size, device, backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device, backend=backend)


def shutdown(ctx: DistContext, barrier: bool = True) -> None:
    """Barrier (every rank finished, rank 0 done writing), then leave the process group.

    After an error pass ``barrier=False``: the other ranks may never reach a barrier, and waiting
    for them would turn a clear error into a hang (torchrun then stops the remaining ranks).
    """
    if ctx.distributed and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()
