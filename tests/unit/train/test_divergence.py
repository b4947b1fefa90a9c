"""NaN/inf stop the run with a clear error, and the last good checkpoint stays as it was."""

import pytest
import torch

from decig.train.checkpoint import read_checkpoint
from decig.train.loop import NonFiniteLossError
from decig.train.paired import Pix2PixTask
from decig.train.stage1 import train_stage1


def test_nan_batch_stops_with_step_and_loss_named(aligned_root, tmp_path, paired_config, monkeypatch):
    cfg = paired_config("stage1.steps=8", "stage1.checkpoint_every=2")
    out = tmp_path / "run"
    train_stage1(cfg, aligned_root, out, stop_at=4)
    ckpt_dir = out / "checkpoints"
    before = {p.name: p.read_bytes() for p in ckpt_dir.iterdir()}
    assert set(before) == {"latest.pt", "step_000000002.pt", "step_000000004.pt"}

    original = Pix2PixTask.train_step
    calls = {"n": 0}

    def poisoned(self, batch, penalty):
        calls["n"] += 1
        if calls["n"] == 2:  # the run's step 6 (resumed at 4): a broken input image
            batch = {**batch, "A": torch.full_like(batch["A"], float("nan"))}
        return original(self, batch, penalty)

    monkeypatch.setattr(Pix2PixTask, "train_step", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"at step 6: .*loss_G_L1") as err:
        train_stage1(cfg, aligned_root, out, resume=True)
    message = str(err.value)
    # Step 5 trained fine but is not a checkpoint step: the kept checkpoint is step 4.
    assert "last good checkpoint (step 4)" in message and str(ckpt_dir) in message
    after = {p.name: p.read_bytes() for p in ckpt_dir.iterdir()}
    assert after == before
    assert read_checkpoint(ckpt_dir / "latest.pt")["step"] == 4
    assert not (out / "metrics.json").exists() and not (out / "generator").exists()


def test_non_finite_weights_are_never_checkpointed(aligned_root, tmp_path, paired_config, monkeypatch):
    """A step whose losses were finite but whose update overflowed the weights must not be saved."""
    cfg = paired_config("stage1.steps=4", "stage1.checkpoint_every=2")
    original = Pix2PixTask.train_step
    calls = {"n": 0}

    def overflow(self, batch, penalty):
        losses = original(self, batch, penalty)
        calls["n"] += 1
        if calls["n"] == 4:
            with torch.no_grad():
                next(self.G.parameters()).fill_(float("inf"))
        return losses

    monkeypatch.setattr(Pix2PixTask, "train_step", overflow)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"parameter G\..* holds NaN/inf; not saving"):
        train_stage1(cfg, aligned_root, out)
    assert read_checkpoint(out / "checkpoints" / "latest.pt")["step"] == 2


def test_huge_learning_rate_diverges_cleanly(aligned_root, tmp_path, paired_config):
    # No patching: an absurd LR with lsgan blows the losses up within a few steps.
    cfg = paired_config("stage1.steps=30", "stage1.lr=1e12", "stage1.gan_mode=lsgan", "stage1.checkpoint_every=1000")
    with pytest.raises(NonFiniteLossError, match=r"training diverged at step \d+: .*non-finite"):
        train_stage1(cfg, aligned_root, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
