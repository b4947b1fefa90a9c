"""Stage II fine-tuning: the pruned student trained against the frozen Stage-I teacher (paired data).

``finetune_student`` loads the pruned generator (``decig prune``'s ``<out>/model/``) as the
student and the Stage-I generator (``<stage1>/generator/``) as the teacher, and trains the student
with ``λ_GAN·GAN + λ_L1·L1(student, B) + λ_distill·L1(student, teacher)`` (:mod:`decig.train.distill`)
on the shared loop of Stage I (:class:`~decig.train.loop.Trainer`: checkpoints, exact resume,
NaN stop, DDP, LR schedule, metrics callback). Settings come from the config's ``finetune:``
section; data settings from ``data:``. It writes into ``out_dir``::

    config.resolved.yaml    the config this directory belongs to
    checkpoints/            step_*.pt + latest.pt, for resume
    generator/              the fine-tuned student (same manifest, i.e. the same pruned widths)
    discriminator/          the fine-tuned discriminator
    metrics.json            final losses, L1 to teacher and to ground truth, lineage hashes, speed

The discriminator starts from the Stage-I one (``discriminator/`` beside the teacher directory,
as the paper keeps the student's and teacher's discriminator structure the same) when
``finetune.discriminator`` is ``stage1`` and it exists, otherwise from a fresh PatchGAN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from decig.config import DecigConfig, PenaltyConfig
from decig.core.errors import ConfigError
from decig.core.log import get_logger
from decig.models.manifest import ArchManifest
from decig.models.persistence import load_model, save_model
from decig.train.builders import build_discriminator, build_train_dataset, is_unpaired, resume_fingerprint
from decig.train.checkpoint import CheckpointManager
from decig.train.distill import DistillTask
from decig.train.distributed import DistContext, init_distributed, shutdown
from decig.train.loop import LoopSettings, MetricsCallback, Trainer, finite_or_none
from decig.train.order import EpochOrder
from decig.train.regularizer import PenaltyTerm
from decig.train.rng import derive_seed, seed_everything
from decig.train.stage1 import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    _record_config,
    _refuse_foreign_outputs,
    _write_json,
    state_dict_sha256,
)

log = get_logger(__name__)

GENERATOR_DIR = "generator"
DISCRIMINATOR_DIR = "discriminator"
# finetune keys that do not change what is computed (a resume may differ in them).
_NEUTRAL = ("log_every", "checkpoint_every", "keep_checkpoints", "device")


def finetune_fingerprint(cfg: DecigConfig) -> dict[str, Any]:
    """What a fine-tune checkpoint must agree with: data, seed, model (D init) and finetune settings.

    Stage I and prune settings are left out: the student and teacher weights are fingerprinted
    by their sha256 instead, which is what those settings produced.
    """
    data = resume_fingerprint(cfg)
    data.pop("stage1", None)
    data.pop("prune", None)
    # Set explicitly: Stage I's fingerprint leaves the whole finetune section out.
    data["finetune"] = {k: v for k, v in cfg.finetune.model_dump(mode="json").items() if k not in _NEUTRAL}
    return data


def resolve_discriminator_dir(cfg: DecigConfig, teacher_dir: Path, explicit: Path | None = None) -> Path | None:
    """The saved discriminator to start from, or None for a fresh one."""
    if explicit is not None:
        return Path(explicit)
    if cfg.finetune.discriminator == "fresh":
        return None
    candidate = Path(teacher_dir).parent / DISCRIMINATOR_DIR
    if (candidate / "manifest.json").is_file():
        return candidate
    log.info("no Stage-I discriminator at %s: fine-tuning starts from a fresh PatchGAN", candidate)
    return None


def _check_pair(student: ArchManifest, teacher: ArchManifest) -> None:
    for field in ("input_nc", "output_nc"):
        if getattr(student, field) != getattr(teacher, field):
            raise ConfigError(
                f"student and teacher differ in {field} ({getattr(student, field)} vs {getattr(teacher, field)}); "
                "the student must be the pruned version of this teacher"
            )


def _discriminator(
    cfg: DecigConfig, student: ArchManifest, source: Path | None
) -> tuple[nn.Module, ArchManifest, str]:
    if source is None:
        d, manifest = build_discriminator(cfg, student)
        return d, manifest, "fresh"
    d, manifest = load_model(source)
    wanted = student.input_nc + student.output_nc
    if manifest.family != "patchgan" or manifest.input_nc != wanted:
        raise ConfigError(
            f"{source} is not a conditional PatchGAN for this generator (family {manifest.family}, "
            f"input_nc {manifest.input_nc}, need patchgan with {wanted}); set finetune.discriminator=fresh"
        )
    return d, manifest, state_dict_sha256(d.state_dict())


def finetune_student(
    cfg: DecigConfig,
    student_dir: Path,
    teacher_dir: Path,
    data_root: Path,
    out_dir: Path,
    *,
    discriminator_dir: Path | None = None,
    resume: bool = False,
    on_metrics: MetricsCallback | None = None,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Fine-tune the pruned student against the frozen teacher; returns the metrics (also ``metrics.json``).

    ``discriminator_dir`` overrides where the starting discriminator comes from (see
    :func:`resolve_discriminator_dir`). ``stop_at`` ends early with a checkpoint, as a preempted job
    would (``finished: false``, no final outputs); ``resume=True`` continues from ``out_dir``'s
    latest checkpoint, bit-identically on CPU.
    """
    out_dir = Path(out_dir)
    if is_unpaired(cfg):
        raise ConfigError(
            "fine-tuning supports paired data only (data.format aligned or celebamask-hq); "
            "CycleGAN student-teacher fine-tuning is not implemented"
        )
    _refuse_foreign_outputs(out_dir, resume)
    ctx = init_distributed(cfg.finetune.device)
    ok = False
    try:
        metrics = _run(cfg, Path(student_dir), Path(teacher_dir), Path(data_root), out_dir, discriminator_dir,
                       resume, on_metrics, stop_at, ctx)  # fmt: skip
        ok = True
        return metrics
    finally:
        shutdown(ctx, barrier=ok)


def _run(
    cfg: DecigConfig,
    student_dir: Path,
    teacher_dir: Path,
    data_root: Path,
    out_dir: Path,
    discriminator_dir: Path | None,
    resume: bool,
    on_metrics: MetricsCallback | None,
    stop_at: int | None,
    ctx: DistContext,
) -> dict[str, Any]:
    f = cfg.finetune
    seed_everything(cfg.seed)
    student, s_manifest = load_model(student_dir)
    teacher, t_manifest = load_model(teacher_dir)
    _check_pair(s_manifest, t_manifest)
    d_source = resolve_discriminator_dir(cfg, teacher_dir, discriminator_dir)
    discriminator, d_manifest, d_origin = _discriminator(cfg, s_manifest, d_source)
    student_sha = state_dict_sha256(student.state_dict())
    teacher_sha = state_dict_sha256(teacher.state_dict())
    task = DistillTask(
        student, teacher, discriminator, lr=f.lr, beta1=f.beta1, gan_mode=f.gan_mode, lambda_gan=f.lambda_gan,
        lambda_l1=f.lambda_l1, lambda_distill=f.lambda_distill, device=ctx.device,
    )  # fmt: skip
    dataset = build_train_dataset(cfg, data_root, s_manifest)
    seed_everything(derive_seed(cfg.seed, "finetune", ctx.rank))
    # No channel penalty: the same loop with a disabled penalty term (α = 0).
    penalty = PenaltyTerm({}, PenaltyConfig(shape="none"), None, ctx)
    task.wrap(ctx.wrap)

    meta: dict[str, Any] = {
        "config": finetune_fingerprint(cfg),
        "student_sha256": student_sha,
        "teacher_sha256": teacher_sha,
        "discriminator_init": d_origin,
    }
    num_samples = len(dataset) if cfg.data.max_train is None else min(len(dataset), cfg.data.max_train)
    order = EpochOrder(num_samples, f.batch_size, cfg.seed, ctx.rank, ctx.world_size)
    checkpoints = CheckpointManager(out_dir / CHECKPOINT_DIR, keep_last=f.keep_checkpoints, writer=ctx.is_main)
    settings = LoopSettings(
        steps=f.steps, decay_from=f.decay_from, checkpoint_every=f.checkpoint_every,
        log_every=f.log_every, num_workers=cfg.data.num_workers, seed=cfg.seed,
        label="fine-tune", config_section="finetune",
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
            log.info("resumed fine-tuning from step %d", trainer.step)

    if ctx.is_main:
        _record_config(cfg, out_dir, trainer.step)
    if resume and trainer.step >= f.steps and (out_dir / METRICS_FILE).is_file():
        log.info("%s is already complete (step %d); returning its recorded metrics", out_dir, trainer.step)
        return json.loads((out_dir / METRICS_FILE).read_text())
    result = trainer.fit(stop_at=stop_at)
    metrics: dict[str, Any] = {
        "task": task.kind,
        "finished": result.finished,
        "steps": f.steps,
        "step": result.step,
        "resumed_from_step": result.start_step,
        "world_size": ctx.world_size,
        "batch_size_per_rank": f.batch_size,
        "train_samples": num_samples,
        "wall_time_s": result.wall_time_s,
        "steps_per_s": result.steps_run / result.wall_time_s if result.wall_time_s > 0 else None,
        "lambda_gan": f.lambda_gan,
        "lambda_l1": f.lambda_l1,
        "lambda_distill": f.lambda_distill,
        "student_dir": str(student_dir),
        "teacher_dir": str(teacher_dir),
        "student_init_sha256": student_sha,
        "teacher_sha256": teacher_sha,
        "discriminator_init": d_origin,
        "student_params": sum(p.numel() for p in task.G.parameters()),
        "teacher_params": sum(p.numel() for p in task.T.parameters()),
        "G_sha256": state_dict_sha256(task.G.state_dict()),
        "config_hash": cfg.config_hash(),
    }
    metrics.update({k: finite_or_none(v) for k, v in result.metrics.items() if k not in metrics})
    if result.finished and ctx.is_main:
        save_model(task.G, s_manifest, out_dir / GENERATOR_DIR)
        save_model(task.D, d_manifest, out_dir / DISCRIMINATOR_DIR)
        _write_json(out_dir / METRICS_FILE, metrics)
    return metrics
