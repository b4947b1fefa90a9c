"""Stage II fine-tuning: pruned student vs frozen Stage-I teacher on tiny aligned data (unet_32, ngf 4)."""

import argparse
import json

import pytest
import torch

from decig.compress.hinge import HingeSettings
from decig.compress.prune_run import MODEL_DIR, run_prune
from decig.config import load_config
from decig.core.errors import CheckpointError, ConfigError
from decig.models.builder import build_from_manifest
from decig.models.persistence import load_model, save_model
from decig.train.builders import resume_fingerprint
from decig.train.checkpoint import read_checkpoint
from decig.train.distill import DistillTask
from decig.train.finetune import finetune_student
from decig.train.finetune_cli import register_cli
from decig.train.init import init_weights
from decig.train.stage1 import state_dict_sha256, train_stage1

BASE = [
    "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32", "data.load_size=36",
    "data.crop_size=32", "stage1.batch_size=2", "stage1.device=cpu", "stage1.penalty.factor=mac",
    "stage1.steps=4", "stage1.log_every=2", "finetune.batch_size=2", "finetune.device=cpu",
    "finetune.log_every=1",
]  # fmt: skip
# Halve most layers of the 9 decision units of unet_32 (4, 8, 16, 32, 32, 32, 16, 8, 4 wide).
OVERRIDES = {
    "model.model.0": 2,
    "model.model.1.model.1": 4,
    "model.model.1.model.3.model.1": 8,
    "model.model.1.model.3.model.3.model.1": 16,
    "model.model.1.model.3.model.3.model.5": 8,
    "model.model.1.model.5": 2,
}


def cfg_of(*extra: str):
    return load_config(overrides=[*BASE, *extra])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, aligned_root):
    """A Stage-I run (teacher + discriminator) and its pruned generator (real surgery)."""
    base = tmp_path_factory.mktemp("ft")
    train_stage1(cfg_of(), aligned_root, base / "s1")
    run_prune(base / "s1" / "generator", base / "prune", settings=HingeSettings(overrides=OVERRIDES))
    return base / "s1", base / "prune"


def _inputs(n: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(123)
    return torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1


def _l1_to_teacher(student, teacher, x) -> float:
    student.eval()
    teacher.eval()
    with torch.no_grad():
        return float((student(x) - teacher(x)).abs().mean())


def test_finetune_writes_outputs_keeps_widths_and_teacher(pipeline, aligned_root, tmp_path):
    s1, prune = pipeline
    teacher_files = {p.name: p.read_bytes() for p in (s1 / "generator").iterdir()}
    student0, s_manifest = load_model(prune / MODEL_DIR)
    _, t_manifest = load_model(s1 / "generator")
    assert dict(s_manifest.widths) != dict(t_manifest.widths)  # really pruned

    out = tmp_path / "ft"
    seen = []
    metrics = finetune_student(cfg_of("finetune.steps=3"), prune / MODEL_DIR, s1 / "generator", aligned_root, out,
                               on_metrics=lambda step, m: seen.append(step))  # fmt: skip
    assert metrics["finished"] and metrics["step"] == 3 and seen == [1, 2, 3]
    for name in ("config.resolved.yaml", "metrics.json", "checkpoints/latest.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["alpha"] == 0.0 and metrics["student_params"] < metrics["teacher_params"]
    assert {"loss_G_distill", "l1_to_teacher", "loss_G_L1", "loss_D"} <= set(metrics)
    # The Stage-I discriminator was the starting point (same structure as the paper keeps).
    d1, _ = load_model(s1 / "discriminator")
    assert metrics["discriminator_init"] == state_dict_sha256(d1.state_dict())

    tuned, manifest = load_model(out / "generator")
    assert manifest == s_manifest  # same pruned widths, same manifest
    assert not all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), student0.state_dict().values()))
    # The teacher's directory is untouched.
    assert {p.name: p.read_bytes() for p in (s1 / "generator").iterdir()} == teacher_files


def test_teacher_is_frozen_in_the_step(pipeline, aligned_root):
    s1, prune = pipeline
    student, _ = load_model(prune / MODEL_DIR)
    teacher, _ = load_model(s1 / "generator")
    disc, _ = load_model(s1 / "discriminator")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}  # weights and BN running stats
    task = DistillTask(student, teacher, disc, lr=1e-3, beta1=0.5)
    from decig.config import PenaltyConfig
    from decig.train.regularizer import PenaltyTerm

    penalty = PenaltyTerm({}, PenaltyConfig(shape="none"), None)
    x = _inputs(2)
    for _ in range(3):
        task.train_step({"A": x, "B": -x}, penalty)
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert set(task.networks) == {"G", "D"}  # the teacher is never checkpointed or optimized


def test_distillation_pulls_student_toward_teacher(pipeline, aligned_root, tmp_path):
    s1, prune = pipeline
    # A re-initialised student of the pruned widths starts far from the teacher (the pruned one is
    # already close to it), so the pull is measurable in a few dozen steps.
    _, s_manifest = load_model(prune / MODEL_DIR)
    torch.manual_seed(7)
    start = save_model(init_weights(build_from_manifest(s_manifest), "normal", 0.2), s_manifest, tmp_path / "student")
    out = tmp_path / "distill"
    cfg = cfg_of("finetune.steps=40", "finetune.lambda_gan=0", "finetune.lambda_l1=0", "finetune.lambda_distill=1",
                 "finetune.lr=1e-2", "finetune.decay_from=1.0", "finetune.checkpoint_every=1000",
                 "finetune.log_every=10")  # fmt: skip
    windows = []
    finetune_student(cfg, start, s1 / "generator", aligned_root, out,
                     on_metrics=lambda step, m: windows.append(m["l1_to_teacher"]))  # fmt: skip
    assert len(windows) == 4 and windows[-1] < 0.5 * windows[0], windows
    teacher, _ = load_model(s1 / "generator")
    student0, _ = load_model(start)
    tuned, _ = load_model(out / "generator")
    x = _inputs()
    before, after = _l1_to_teacher(student0, teacher, x), _l1_to_teacher(tuned, teacher, x)
    assert after < 0.5 * before, (before, after)  # also on fixed inputs, eval mode


def test_resume_is_bit_identical(pipeline, aligned_root, tmp_path, tree_equal):
    s1, prune = pipeline
    cfg = cfg_of("finetune.steps=6", "finetune.checkpoint_every=100", "finetune.decay_from=0.25")
    full, split = tmp_path / "full", tmp_path / "split"
    args = (prune / MODEL_DIR, s1 / "generator", aligned_root)
    finetune_student(cfg, *args, full)
    half = finetune_student(cfg, *args, split, stop_at=3)
    assert half["finished"] is False and not (split / "generator").exists()
    resumed = finetune_student(cfg, *args, split, resume=True)
    assert resumed["resumed_from_step"] == 3 and resumed["finished"]
    a, b = read_checkpoint(full / "checkpoints" / "latest.pt"), read_checkpoint(split / "checkpoints" / "latest.pt")
    assert tree_equal(a["models"], b["models"]) + tree_equal(a["optimizers"], b["optimizers"]) > 20
    tree_equal(a["rng"], b["rng"])
    assert (full / "generator" / "model.pt.sha256").read_text() == (split / "generator" / "model.pt.sha256").read_text()

    # A changed fine-tune setting cannot continue that run ...
    other = tmp_path / "other"
    finetune_student(cfg, *args, other, stop_at=2)
    with pytest.raises(CheckpointError, match=r"finetune\.lambda_distill"):
        finetune_student(cfg_of("finetune.steps=6", "finetune.checkpoint_every=100", "finetune.decay_from=0.25",
                                "finetune.lambda_distill=5"), *args, other, resume=True)  # fmt: skip
    # ... nor can a different teacher.
    with pytest.raises(CheckpointError, match="teacher_sha256"):
        finetune_student(cfg, prune / MODEL_DIR, full / "generator", aligned_root, other, resume=True,
                         discriminator_dir=s1 / "discriminator")  # fmt: skip


def test_fresh_discriminator_and_stage1_resume_unaffected(pipeline, aligned_root, tmp_path):
    s1, prune = pipeline
    metrics = finetune_student(cfg_of("finetune.steps=1", "finetune.discriminator=fresh"), prune / MODEL_DIR,
                               s1 / "generator", aligned_root, tmp_path / "fresh")  # fmt: skip
    assert metrics["discriminator_init"] == "fresh"
    # Fine-tune settings are not part of Stage I's resume fingerprint.
    assert resume_fingerprint(cfg_of()) == resume_fingerprint(cfg_of("finetune.steps=7", "finetune.lr=1e-3"))


def test_refusals(pipeline, aligned_root, tmp_path):
    s1, prune = pipeline
    with pytest.raises(ConfigError, match="paired data only"):
        finetune_student(cfg_of("data.format=unaligned"), prune / MODEL_DIR, s1 / "generator", aligned_root,
                         tmp_path / "u")  # fmt: skip
    with pytest.raises(ConfigError, match="not a conditional PatchGAN"):
        finetune_student(cfg_of("finetune.steps=1"), prune / MODEL_DIR, s1 / "generator", aligned_root,
                         tmp_path / "d", discriminator_dir=s1 / "generator")  # fmt: skip
    with pytest.raises(ConfigError, match="finetune.stpes"):
        cfg_of("finetune.stpes=3")


def test_stage_function_and_cli(pipeline, aligned_root, tmp_path, capsys):
    from decig import stages

    s1, prune = pipeline
    metrics = stages.finetune(cfg_of("finetune.steps=1"), s1, prune, aligned_root, tmp_path / "stage")
    assert metrics["finished"] and (tmp_path / "stage" / "run_record.json").is_file()

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args([
        "finetune", *sum((["--set", o] for o in [*BASE, "finetune.steps=2"]), []),
        "--student", str(prune / MODEL_DIR), "--teacher", str(s1 / "generator"),
        "--data", str(aligned_root), "--out", str(tmp_path / "cli"),
    ])  # fmt: skip
    assert args.func(args) == 0
    assert "fine-tuning done: 2 steps" in capsys.readouterr().out
    assert (tmp_path / "cli" / "generator" / "manifest.json").is_file()
