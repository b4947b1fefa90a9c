"""Stage I of DECIG as one pipeline stage: config + data (+ device profile) -> teacher + statistics.

``train_stage1`` trains the generator(s) with ``L_GAN + λ·L1 + α·L_PENAL`` (pix2pix on aligned or
mask/image data, CycleGAN on unaligned data) and writes into ``out_dir``::

    config.resolved.yaml    the config this directory belongs to (a different one is refused)
    checkpoints/            step_*.pt + latest.pt, for --resume (see decig.train.checkpoint)
    generator/              the trained generator as manifest.json + model.pt (CycleGAN: G_A)
    generator_B/            CycleGAN only: G_B
    discriminator/          the trained discriminator (CycleGAN: D_A; discriminator_B/ for D_B)
    channel_stats.json      per-channel group magnitudes of every prunable layer (for the hinge)
    channel_stats.png       the Fig. 2-style plot of those curves
    metrics.json            final losses, α, penalty, wall time, steps/s, near-zero channel shares

It runs the same single-process or under ``torchrun`` (DDP; only rank 0 writes). An existing
output directory is never overwritten silently: it is continued with ``resume=True`` or refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.config import DecigConfig, save_resolved_config
from decig.devices.profile import load_profile
from decig.core.errors import CheckpointError, ConfigError
from decig.core.log import get_logger
from decig.models.manifest import ArchManifest
from decig.models.persistence import save_model
from decig.train.builders import (
    build_discriminator,
    build_generator,
    build_train_dataset,
    is_unpaired,
    resume_fingerprint,
)
from decig.train.channel_stats import compute_channel_stats, plot_channel_stats, read_channel_stats, write_channel_stats
from decig.train.checkpoint import CheckpointManager
from decig.train.distributed import DistContext, init_distributed, shutdown
from decig.train.loop import LoopSettings, MetricsCallback, Trainer, finite_or_none
from decig.train.order import EpochOrder
from decig.train.paired import Pix2PixTask
from decig.train.regularizer import PenaltyTerm, layer_factors
from decig.train.rng import derive_seed, seed_everything
from decig.train.task import GANTask
from decig.train.unpaired import CycleGANTask

log = get_logger(__name__)

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.json"
STATS_FILE = "channel_stats.json"
PLOT_FILE = "channel_stats.png"


def _build_task(cfg: DecigConfig, ctx: DistContext) -> tuple[GANTask, dict[str, ArchManifest]]:
    """Networks in the reference's creation order (so one seed gives the reference's init)."""
    t = cfg.stage1
    if is_unpaired(cfg):
        g_a, g_manifest = build_generator(cfg)
        g_b, _ = build_generator(cfg)
        d_a, d_manifest = build_discriminator(cfg, g_manifest)
        d_b, _ = build_discriminator(cfg, g_manifest)
        task: GANTask = CycleGANTask(
            g_a, g_b, d_a, d_b,
            lr=t.lr, beta1=t.beta1, gan_mode=t.gan_mode, lambda_cycle=t.lambda_cycle,
            lambda_identity=t.lambda_identity, pool_size=t.pool_size,
            pool_seed=derive_seed(cfg.seed, "image-pool", ctx.rank), penalize=t.penalty.penalize, device=ctx.device,
        )  # fmt: skip
        manifests = {"G_A": g_manifest, "G_B": g_manifest, "D_A": d_manifest, "D_B": d_manifest}
    else:
        g, g_manifest = build_generator(cfg)
        d, d_manifest = build_discriminator(cfg, g_manifest)
        task = Pix2PixTask(
            g, d, lr=t.lr, beta1=t.beta1, gan_mode=t.gan_mode, lambda_l1=t.lambda_l1, device=ctx.device
        )
        manifests = {"G": g_manifest, "D": d_manifest}
    return task, manifests


# Where each trained network is saved (save_model directories under out_dir).
_OUTPUT_DIRS = {"G": "generator", "D": "discriminator", "G_A": "generator", "G_B": "generator_B",
                "D_A": "discriminator", "D_B": "discriminator_B"}  # fmt: skip


def _refuse_foreign_outputs(out_dir: Path, resume: bool) -> None:
    """Never overwrite another run's results: continuing needs resume=True."""
    if resume:
        return
    existing = [name for name in (CHECKPOINT_DIR, METRICS_FILE, "generator") if (out_dir / name).exists()]
    if existing:
        raise CheckpointError(
            f"{out_dir} already holds a training run ({', '.join(existing)}); pass --resume to continue it "
            "or choose a new output directory"
        )


def state_dict_sha256(state: Mapping[str, Any]) -> str:
    """sha256 over names, dtypes, shapes and raw bytes of a state dict (order-independent)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # Flattened first: a 0-d tensor cannot be viewed as bytes.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _record_config(cfg: DecigConfig, out_dir: Path, step: int) -> None:
    """Write the resolved config beside the outputs, never replacing a different one.

    A resumed session may differ from the original only in resume-neutral keys (the checkpoint
    check has passed by now: log cadence, workers, data location, ...); its config is recorded
    under its own name so the directory documents every session.
    """
    try:
        save_resolved_config(cfg, out_dir)
    except ConfigError:
        if step == 0:
            raise
        path = save_resolved_config(cfg, out_dir, name=f"config.resumed-step{step}.yaml")
        log.info("resumed with changed resume-neutral settings; recorded in %s", path)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _finish_outputs(
    out_dir: Path,
    task: GANTask,
    manifests: Mapping[str, ArchManifest],
    baseline_stats: Path | None,
    title: str,
) -> dict[str, Any]:
    """Save networks, channel statistics and the plot; returns the flat statistics summary."""
    for name, net in task.networks.items():
        save_model(net, manifests[name], out_dir / _OUTPUT_DIRS[name])
    generators: dict[str, nn.Module] = {n: m for n, m in task.networks.items() if n.startswith("G")}
    stats = compute_channel_stats(generators)
    write_channel_stats(stats, out_dir / STATS_FILE)
    baseline = read_channel_stats(baseline_stats) if baseline_stats is not None else None
    plot_channel_stats(stats, out_dir / PLOT_FILE, baseline=baseline, title=title)
    flat: dict[str, Any] = {}
    for net_name, net in stats["networks"].items():
        prefix = "" if len(stats["networks"]) == 1 else f"{net_name}/"
        for key in ("near_zero_share", "mean_layer_share"):
            for t, share in net["summary"][key].items():
                flat[f"{prefix}{key}_{t}"] = share
    return flat


def train_stage1(
    cfg: DecigConfig,
    data_root: Path,
    out_dir: Path,
    profile_path: Path | None = None,
    resume: bool = False,
    on_metrics: MetricsCallback | None = None,
    *,
    baseline_stats: Path | None = None,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Run Stage I; returns the metrics dict also written to ``out_dir/metrics.json``.

    ``on_metrics(step, metrics)`` receives the averaged losses every ``stage1.log_every`` steps
    (rank 0 only). ``baseline_stats`` is a vanilla run's ``channel_stats.json`` to overlay in the
    plot. ``stop_at`` ends the run early after that many steps with a checkpoint (as a preempted
    job would); the returned metrics then say ``finished: false`` and no final outputs are written.
    """
    out_dir = Path(out_dir)
    data_root = Path(data_root)
    _refuse_foreign_outputs(out_dir, resume)
    ctx = init_distributed(cfg.stage1.device)
    ok = False
    try:
        metrics = _run(cfg, data_root, out_dir, profile_path, resume, on_metrics, baseline_stats, stop_at, ctx)
        ok = True
        return metrics
    finally:
        shutdown(ctx, barrier=ok)


def _run(
    cfg: DecigConfig,
    data_root: Path,
    out_dir: Path,
    profile_path: Path | None,
    resume: bool,
    on_metrics: MetricsCallback | None,
    baseline_stats: Path | None,
    stop_at: int | None,
    ctx: DistContext,
) -> dict[str, Any]:
    t = cfg.stage1
    # Same seed on every rank for the initial weights (DDP would broadcast rank 0's anyway) ...
    seed_everything(cfg.seed)
    task, manifests = _build_task(cfg, ctx)
    first_gen = next(iter(manifests.values()))
    dataset = build_train_dataset(cfg, data_root, first_gen)
    # ... then one stream per rank, so dropout noise differs between ranks as it would between batches.
    seed_everything(derive_seed(cfg.seed, "train", ctx.rank))

    meta: dict[str, Any] = {"config": resume_fingerprint(cfg)}
    factors = None
    if t.penalty.shape != "none":
        reference = next(iter(task.penalized.values()))
        factors = layer_factors(
            t.penalty.factor, reference, (1, first_gen.input_nc, *first_gen.input_size), profile_path
        )
        if t.penalty.factor == "device":
            assert profile_path is not None
            meta["profile_sha256"] = load_profile(profile_path).content_hash()
    elif profile_path is not None:
        log.info("penalty.shape is 'none' (vanilla baseline): the device profile is not used")
    penalty = PenaltyTerm(task.penalized, t.penalty, factors, ctx)
    task.wrap(ctx.wrap)

    num_samples = len(dataset) if cfg.data.max_train is None else min(len(dataset), cfg.data.max_train)
    order = EpochOrder(num_samples, t.batch_size, cfg.seed, ctx.rank, ctx.world_size)
    checkpoints = CheckpointManager(out_dir / CHECKPOINT_DIR, keep_last=t.keep_checkpoints, writer=ctx.is_main)
    settings = LoopSettings(
        steps=t.steps, decay_from=t.decay_from, checkpoint_every=t.checkpoint_every,
        log_every=t.log_every, num_workers=cfg.data.num_workers, seed=cfg.seed,
    )  # fmt: skip
    trainer = Trainer(
        task, dataset, order, penalty, settings, ctx=ctx, checkpoints=checkpoints, meta=meta, on_metrics=on_metrics
    )
    if resume:
        payload = checkpoints.load_latest()
        if payload is None:
            log.info("no checkpoint in %s: starting from step 0", checkpoints.directory)
        else:
            trainer.resume(payload)
            log.info("resumed from step %d", trainer.step)

    if ctx.is_main:
        _record_config(cfg, out_dir, trainer.step)
    if resume and trainer.step >= t.steps and (out_dir / METRICS_FILE).is_file():
        # A finished run resumed again (e.g. a retried pipeline task): nothing to train, and
        # rewriting the outputs would replace the recorded final losses with empty ones.
        log.info("%s is already complete (step %d); returning its recorded metrics", out_dir, trainer.step)
        return json.loads((out_dir / METRICS_FILE).read_text())
    result = trainer.fit(stop_at=stop_at)
    metrics: dict[str, Any] = {
        "task": task.kind,
        "finished": result.finished,
        "steps": t.steps,
        "step": result.step,
        "resumed_from_step": result.start_step,
        "world_size": ctx.world_size,
        "batch_size_per_rank": t.batch_size,
        "train_samples": num_samples,
        "wall_time_s": result.wall_time_s,
        "steps_per_s": result.steps_run / result.wall_time_s if result.wall_time_s > 0 else None,
        "alpha": finite_or_none(penalty.alpha),
        "alpha_calibrated": finite_or_none(penalty.alpha_calibrated),
        "alpha_ratio_at_start": finite_or_none(penalty.ratio_at_start),
        "penalty_shape": t.penalty.shape,
        "penalty_factor": t.penalty.factor if t.penalty.shape != "none" else None,
        "reg": t.penalty.reg,
        "config_hash": cfg.config_hash(),
    }
    # Every rank fingerprints its own weights: equal hashes prove DDP kept the ranks in sync, and
    # the hash identifies the teacher in lineage records.
    for name, net in task.networks.items():
        if name.startswith("G"):
            metrics[f"{name}_sha256"] = state_dict_sha256(net.state_dict())
    # Last logged window, averaged over ranks (losses, penalty, learning rates).
    metrics.update({k: finite_or_none(v) for k, v in result.metrics.items() if k not in metrics})
    if result.finished and ctx.is_main:
        started = time.perf_counter()
        title = f"{cfg.model.arch} ngf {cfg.model.ngf} · penalty {t.penalty.shape}" + (
            f" ({t.penalty.factor}, reg {t.penalty.reg})" if t.penalty.shape != "none" else ""
        )
        metrics.update(_finish_outputs(out_dir, task, manifests, baseline_stats, title))
        metrics["outputs_time_s"] = time.perf_counter() - started
        _write_json(out_dir / METRICS_FILE, metrics)
    return metrics
