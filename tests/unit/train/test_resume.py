"""Stop half-way + resume == one uninterrupted run, bit for bit (CPU), for pix2pix and CycleGAN."""

import pytest

from decig.core.errors import CheckpointError
from decig.train.checkpoint import read_checkpoint
from decig.train.stage1 import train_stage1

STEPS = 8


def _final(out) -> dict:
    return read_checkpoint(out / "checkpoints" / "latest.pt")


def _compare(cfg, root, tmp_path, tree_equal) -> None:
    full, split = tmp_path / "full", tmp_path / "split"
    train_stage1(cfg, root, full)
    halfway = train_stage1(cfg, root, split, stop_at=STEPS // 2)
    assert halfway["finished"] is False and halfway["step"] == STEPS // 2
    assert not (split / "generator").exists()  # no final outputs from an interrupted run
    resumed = train_stage1(cfg, root, split, resume=True)
    assert resumed["resumed_from_step"] == STEPS // 2 and resumed["finished"] is True
    a, b = _final(full), _final(split)
    assert a["step"] == b["step"] == STEPS
    compared = tree_equal(a["models"], b["models"], "models")
    compared += tree_equal(a["optimizers"], b["optimizers"], "optimizers")
    assert compared > 20
    tree_equal(a["schedulers"], b["schedulers"], "schedulers")
    assert a["penalty"]["alpha"] == b["penalty"]["alpha"]
    tree_equal(a["rng"], b["rng"], "rng")
    assert (full / "generator" / "model.pt.sha256").read_text() == (split / "generator" / "model.pt.sha256").read_text()


def test_paired_resume_is_bit_identical(aligned_root, tmp_path, paired_config, tree_equal):
    # 6 samples / batch 2 = 3 batches per epoch: the stop at step 4 falls mid-epoch.
    cfg = paired_config(f"stage1.steps={STEPS}", "stage1.checkpoint_every=100", "stage1.decay_from=0.25")
    _compare(cfg, aligned_root, tmp_path, tree_equal)


def test_unpaired_resume_is_bit_identical_with_dropout_and_pools(unaligned_root, tmp_path, unpaired_config, tree_equal):
    # Dropout consumes torch's global RNG and the pools their own generators: both must be restored.
    cfg = unpaired_config(f"stage1.steps={STEPS}", "stage1.checkpoint_every=3", "model.dropout=true")
    _compare(cfg, unaligned_root, tmp_path, tree_equal)


def test_resume_with_other_settings_is_refused(aligned_root, tmp_path, paired_config):
    out = tmp_path / "run"
    train_stage1(paired_config("stage1.steps=4"), aligned_root, out, stop_at=2)
    with pytest.raises(CheckpointError, match=r"stage1\.lr: 0\.0002 -> 0\.001"):
        train_stage1(paired_config("stage1.steps=4", "stage1.lr=1e-3"), aligned_root, out, resume=True)


def test_existing_run_is_not_overwritten_without_resume(aligned_root, tmp_path, paired_config):
    out = tmp_path / "run"
    train_stage1(paired_config("stage1.steps=2"), aligned_root, out, stop_at=1)
    before = (out / "checkpoints" / "latest.pt").read_bytes()
    with pytest.raises(CheckpointError, match="--resume"):
        train_stage1(paired_config("stage1.steps=2"), aligned_root, out)
    assert (out / "checkpoints" / "latest.pt").read_bytes() == before


def test_resume_may_change_neutral_settings_and_records_them(aligned_root, tmp_path, paired_config):
    out = tmp_path / "run"
    train_stage1(paired_config("stage1.steps=4"), aligned_root, out, stop_at=2)
    metrics = train_stage1(paired_config("stage1.steps=4", "stage1.log_every=2"), aligned_root, out, resume=True)
    assert metrics["finished"] and metrics["resumed_from_step"] == 2
    assert (out / "config.resumed-step2.yaml").is_file()
    assert "log_every: 1" in (out / "config.resolved.yaml").read_text()  # the original is untouched


def test_resuming_a_finished_run_keeps_its_outputs(aligned_root, tmp_path, paired_config):
    out = tmp_path / "run"
    first = train_stage1(paired_config("stage1.steps=2"), aligned_root, out)
    recorded = (out / "metrics.json").read_bytes()
    again = train_stage1(paired_config("stage1.steps=2"), aligned_root, out, resume=True)
    assert (out / "metrics.json").read_bytes() == recorded
    assert again["loss_G"] == first["loss_G"] and again["G_sha256"] == first["G_sha256"]


def test_loader_workers_do_not_change_the_result(aligned_root, tmp_path, paired_config):
    # Transforms are seeded per (seed, epoch, index) and the order per (seed, epoch): worker
    # processes may load the samples, the batches stay the same.
    runs = [
        train_stage1(paired_config("stage1.steps=4", f"data.num_workers={w}"), aligned_root, tmp_path / f"w{w}")
        for w in (0, 2)
    ]
    assert runs[0]["G_sha256"] == runs[1]["G_sha256"]
