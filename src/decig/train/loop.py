"""The training loop shared by every GAN recipe: steps, data, schedules, checks, checkpoints.

One :class:`Trainer` drives any :class:`~decig.train.task.GANTask`. It owns what must be identical
across recipes for exact resume and safe failure:

- **Data**: step ``s`` consumes batch ``s mod B`` of epoch ``s div B`` of a seeded order
  (:mod:`decig.train.order`); a resumed run rebuilds its DataLoader at the same position. The
  DataLoader gets a private generator, so creating one never advances torch's global RNG (it
  otherwise draws a worker base seed from it on every iterator, and a resume would shift dropout).
- **LR**: one linear-decay schedule per optimizer, stepped after every optimizer step.
- **Divergence**: every loss of every step is checked for NaN/inf *before* anything is written.
  A non-finite loss stops the run with :class:`NonFiniteLossError` naming the step and the loss;
  the last good checkpoint stays untouched. In data-parallel runs the check is agreed through one
  all-reduce, so all ranks stop at the same step instead of hanging in a collective.
- **Checkpoints**: every ``checkpoint_every`` steps and at the end, written by rank 0 only,
  holding networks, optimizers, schedules, α, and every RNG state of every rank.
- **Metrics**: losses averaged over ``log_every`` steps (and over ranks), handed to
  ``on_metrics(step, metrics)`` on rank 0; nothing here knows about MLflow.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from decig.data.base import SeededImageDataset
from decig.core.errors import CheckpointError, NonFiniteLossError  # noqa: F401  (re-exported: decig.train.loop.NonFiniteLossError)
from decig.core.log import get_logger, progress
from decig.train.checkpoint import CheckpointManager
from decig.train.distributed import DistContext
from decig.train.optim import linear_decay
from decig.train.order import EpochOrder
from decig.train.regularizer import PenaltyTerm
from decig.train.rng import capture_rng_state, derive_seed, restore_rng_state
from decig.train.task import Batch, GANTask

log = get_logger(__name__)

MetricsCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    decay_from: float = 0.5
    checkpoint_every: int = 100
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0
    # Which run this is, for the progress bar and the hints in error messages (Stage I or fine-tune).
    label: str = "stage I"
    config_section: str = "stage1"


@dataclass
class LoopResult:
    """What a :meth:`Trainer.fit` call did; ``metrics`` are the last logged window's averages."""

    step: int
    start_step: int
    finished: bool
    wall_time_s: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def steps_run(self) -> int:
        return self.step - self.start_step


class Trainer:
    def __init__(
        self,
        task: GANTask,
        dataset: SeededImageDataset,
        order: EpochOrder,
        penalty: PenaltyTerm,
        settings: LoopSettings,
        *,
        ctx: DistContext | None = None,
        checkpoints: CheckpointManager | None = None,
        meta: Mapping[str, Any] | None = None,
        on_metrics: MetricsCallback | None = None,
    ) -> None:
        self.task = task
        self.dataset = dataset
        self.order = order
        self.penalty = penalty
        self.settings = settings
        self.ctx = ctx or DistContext()
        self.checkpoints = checkpoints
        # Facts a checkpoint must agree with to be resumed (config fingerprint, world size, ...).
        self.meta = dict(meta or {})
        self.meta.setdefault("world_size", self.ctx.world_size)
        self.meta.setdefault("num_samples", len(dataset))
        self.on_metrics = on_metrics
        self.schedulers: dict[str, LambdaLR] = {
            name: linear_decay(opt, settings.steps, settings.decay_from) for name, opt in task.optimizers.items()
        }
        self.step = 0
        self.last_saved_step: int | None = None
        self._window: dict[str, Tensor] = {}
        self._window_count = 0
        self._step_lrs: dict[str, float] = {}

    # ---------------------------------------------------------------- checkpoints

    def state_payload(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically (collective: all ranks must call it)."""
        per_rank = {"rng": capture_rng_state(), "task": self.task.extra_state()}
        ranks = self._gather(per_rank)
        return {
            "kind": self.task.kind,
            "models": {name: net.state_dict() for name, net in self.task.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.task.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "penalty": self.penalty.state_dict(),
            "rng": ranks,
            "meta": {key: (json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v) for key, v in self.meta.items()},
        }

    def _gather(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.ctx.distributed:
            return [obj]
        # Only rank 0 writes, so only rank 0 receives. Pickled between our own ranks only: what
        # goes to disk is the tensor/number form, loaded later with weights_only=True.
        gathered: list[Any] | None = [None] * self.ctx.world_size if self.ctx.is_main else None
        dist.gather_object(obj, gathered, dst=0)
        return gathered if gathered is not None else []

    def save_checkpoint(self) -> None:
        if self.checkpoints is None:
            return
        self._check_weights_finite()
        payload = self.state_payload()
        self.checkpoints.save(self.step, payload)
        self.last_saved_step = self.step

    def _check_weights_finite(self) -> None:
        # A loss can stay finite for a step while an update already overflowed the weights; such a
        # state must never replace the last good checkpoint.
        for name, net in self.task.networks.items():
            for pname, p in net.named_parameters():
                if not torch.isfinite(p).all():
                    raise NonFiniteLossError(
                        f"after step {self.step} parameter {name}.{pname} holds NaN/inf; not saving. "
                        f"{self._kept_checkpoint_hint()}"
                    )

    def resume(self, payload: Mapping[str, Any]) -> None:
        """Restore every piece of state from a checkpoint payload (all ranks)."""
        if payload.get("kind") != self.task.kind:
            raise CheckpointError(f"checkpoint is from {payload.get('kind')!r} training, this run is {self.task.kind!r}")
        self._check_meta(payload.get("meta", {}))
        networks, optimizers = self.task.networks, self.task.optimizers
        for group, wanted, stored in (
            ("networks", networks, payload["models"]),
            ("optimizers", optimizers, payload["optimizers"]),
            ("schedules", self.schedulers, payload["schedulers"]),
        ):
            if set(stored) != set(wanted):
                raise CheckpointError(f"checkpoint {group} {sorted(stored)} do not match this run's {sorted(wanted)}")
        for name, net in networks.items():
            try:
                net.load_state_dict(payload["models"][name])
            except RuntimeError as err:
                raise CheckpointError(f"checkpoint weights of {name} do not fit this architecture: {err}") from None
        for name, opt in optimizers.items():
            try:
                opt.load_state_dict(payload["optimizers"][name])
            except (ValueError, KeyError) as err:
                raise CheckpointError(f"checkpoint optimizer state of {name} does not fit: {err}") from None
        for name, sched in self.schedulers.items():
            sched.load_state_dict(payload["schedulers"][name])
        self.penalty.load_state_dict(payload["penalty"])
        ranks = payload["rng"]
        if len(ranks) != self.ctx.world_size:
            raise CheckpointError(f"checkpoint holds state of {len(ranks)} rank(s), this run has {self.ctx.world_size}")
        own = ranks[self.ctx.rank]
        self.task.load_extra_state(own["task"])
        restore_rng_state(own["rng"])
        self.step = int(payload["step"])
        self.last_saved_step = self.step
        if self.step > self.settings.steps:
            raise CheckpointError(f"checkpoint is at step {self.step}, beyond this run's {self.settings.steps} steps")

    def _check_meta(self, stored: Mapping[str, Any]) -> None:
        for key, value in self.meta.items():
            mine = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
            theirs = stored.get(key)
            if theirs == mine:
                continue
            detail = ""
            if isinstance(value, dict) and isinstance(theirs, str):
                diff = _dict_diff(json.loads(theirs), value)
                detail = ": " + "; ".join(diff[:8]) if diff else ""
            else:
                detail = f": checkpoint {theirs!r}, now {mine!r}"
            raise CheckpointError(
                f"cannot resume exactly: {key} differs from the checkpoint's{detail}. "
                "Resume with the same settings, or start a new run in a fresh output directory"
            )

    def _kept_checkpoint_hint(self) -> str:
        if self.checkpoints is None:
            return "No checkpoints are written in this run."
        if self.last_saved_step is None:
            return f"No checkpoint had been written yet in {self.checkpoints.directory}."
        return f"The last good checkpoint (step {self.last_saved_step}) in {self.checkpoints.directory} is kept."

    # ---------------------------------------------------------------- data

    def _batches(self) -> Iterator[Batch]:
        """Batches from the current step on, crossing epochs as needed."""
        epoch, start = self.order.locate(self.step)
        while True:
            self.dataset.set_epoch(epoch)
            gen = torch.Generator()
            gen.manual_seed(derive_seed(self.settings.seed, "loader", epoch, self.ctx.rank))
            loader = DataLoader(
                self.dataset,
                batch_sampler=self.order.batches(epoch, start),
                num_workers=self.settings.num_workers,
                generator=gen,
                pin_memory=self.ctx.device.type == "cuda",
            )
            yield from loader
            epoch, start = epoch + 1, 0

    # ---------------------------------------------------------------- steps

    def _check_finite(self, losses: Mapping[str, Tensor]) -> None:
        names = list(losses)
        bad = torch.stack([(~torch.isfinite(losses[n])).float() for n in names]).to(self.ctx.device)
        self.ctx.all_reduce_(bad, "max")
        if bool(bad.any()):
            which = [n for n, b in zip(names, bad.tolist(), strict=True) if b]
            values = ", ".join(f"{n}={float(losses[n]):g}" for n in which)
            raise NonFiniteLossError(
                f"training diverged at step {self.step + 1}: {', '.join(which)} became non-finite "
                f"(on this rank: {values}). {self._kept_checkpoint_hint()} "
                f"Lower {self.settings.config_section}.lr or check the data for broken images"
                + (", then resume from that checkpoint." if self.last_saved_step is not None else ".")
            )

    def _accumulate(self, losses: Mapping[str, Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().float()
            self._window[name] = self._window[name] + value if name in self._window else value.clone()
        self._window_count += 1

    def _flush_metrics(self) -> dict[str, float]:
        if not self._window_count:
            return {}
        names = sorted(self._window)
        sums = torch.stack([self._window[n] for n in names]).to(self.ctx.device)
        self.ctx.all_reduce_(sums, "mean")
        metrics = {n: float(v) / self._window_count for n, v in zip(names, sums.tolist(), strict=True)}
        metrics.update(self.penalty.metrics())
        if self.penalty.ratio_at_start is not None:
            metrics["alpha_ratio_at_start"] = float(self.penalty.ratio_at_start)
        # The rate the latest step trained with (the scheduler has already moved on to the next).
        metrics.update({f"lr_{name}": lr for name, lr in self._step_lrs.items()})
        self._window, self._window_count = {}, 0
        if self.ctx.is_main and self.on_metrics is not None:
            self.on_metrics(self.step, metrics)
        return metrics

    def fit(self, stop_at: int | None = None) -> LoopResult:
        """Train from the current step to ``settings.steps`` (or stop early after ``stop_at`` steps).

        ``stop_at`` ends this call early with a checkpoint, as a preempted job would; a later
        :meth:`resume` + :meth:`fit` continues to the same result as one uninterrupted call.
        """
        total = self.settings.steps
        end = total if stop_at is None else min(stop_at, total)
        start_step = self.step
        metrics: dict[str, float] = {}
        started = time.perf_counter()
        if start_step >= end:
            return LoopResult(self.step, start_step, self.step >= total, 0.0, metrics)
        batches = self._batches()
        bar = progress(range(start_step, end), desc=self.settings.label, total=end - start_step, unit="step")
        for _ in bar:
            batch = next(batches)
            self._step_lrs = {name: float(opt.param_groups[0]["lr"]) for name, opt in self.task.optimizers.items()}
            losses = self.task.train_step(batch, self.penalty)
            for sched in self.schedulers.values():
                sched.step()
            self._check_finite(losses)
            self._accumulate(losses)
            self.step += 1
            if self.step % self.settings.log_every == 0 or self.step == end:
                metrics = self._flush_metrics() or metrics
                if self.ctx.is_main:
                    log.info("step %d/%d %s", self.step, total, _format_metrics(metrics))
            if self.step % self.settings.checkpoint_every == 0 or self.step == end:
                self.save_checkpoint()
        wall = time.perf_counter() - started
        for net in self.task.networks.values():
            self.ctx.sync_buffers(net)
        return LoopResult(self.step, start_step, self.step >= total, wall, metrics)


def _format_metrics(metrics: Mapping[str, float]) -> str:
    keys = [k for k in ("loss_G", "loss_D", "loss_G_L1", "loss_G_penalty", "alpha") if k in metrics]
    return " ".join(f"{k}={metrics[k]:.4g}" for k in keys)


def _dict_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two nested dicts (``key: old -> new``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{path}: (absent) -> {new[key]!r}")
            elif key not in new:
                out.append(f"{path}: {old[key]!r} -> (absent)")
            else:
                out.extend(_dict_diff(old[key], new[key], path))
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: metrics files store non-finite values as null."""
    if value is None or not math.isfinite(value):
        return None
    return value
