"""Atomic, rotating checkpoints: weights_only loading, keep-last-K + latest, safe failures."""

import os

import pytest
import torch

from decig.core.errors import CheckpointError
from decig.train.checkpoint import LATEST, CheckpointManager, atomic_torch_save, read_checkpoint, step_filename


class Arbitrary:
    """A pickled class instance: the weights_only unpickler must refuse to build it."""


def _payload(value: float) -> dict:
    return {
        "models": {"G": {"w": torch.full((2, 2), value)}},
        "optimizers": {},
        "schedulers": {},
        "rng": [{"n": 1}],
    }


def test_save_rotates_and_latest_points_at_newest(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    for step in (10, 20, 30):
        mgr.save(step, _payload(step))
    assert [s for s, _ in mgr.step_files()] == [20, 30]
    latest = read_checkpoint(tmp_path / LATEST)
    assert latest["step"] == 30 and torch.equal(latest["models"]["G"]["w"], torch.full((2, 2), 30.0))
    # Hard link: no second copy of the data on disk.
    assert os.stat(tmp_path / LATEST).st_ino == os.stat(tmp_path / step_filename(30)).st_ino
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_files_load_with_weights_only(tmp_path):
    CheckpointManager(tmp_path).save(1, _payload(1.0))
    raw = torch.load(tmp_path / LATEST, weights_only=True)
    assert raw["format"] == "decig-train-checkpoint" and raw["step"] == 1


def test_failed_save_keeps_previous_checkpoint_intact(tmp_path):
    mgr = CheckpointManager(tmp_path)
    mgr.save(5, _payload(5.0))
    before = (tmp_path / LATEST).read_bytes()
    bad = _payload(6.0)
    bad["models"]["G"]["w"] = lambda: None  # not picklable: torch.save fails mid-write
    with pytest.raises(Exception):
        mgr.save(6, bad)
    assert (tmp_path / LATEST).read_bytes() == before
    assert [s for s, _ in mgr.step_files()] == [5]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_corrupt_latest_falls_back_to_older_step(tmp_path, caplog):
    mgr = CheckpointManager(tmp_path, keep_last=3)
    mgr.save(1, _payload(1.0))
    mgr.save(2, _payload(2.0))
    # Break the newest data (latest is a link to it, so both break).
    (tmp_path / step_filename(2)).unlink()
    (tmp_path / LATEST).unlink()
    (tmp_path / LATEST).write_bytes(b"garbage")
    payload = mgr.load_latest()
    assert payload is not None and payload["step"] == 1
    assert "unreadable" in caplog.text


def test_no_checkpoint_and_nothing_readable(tmp_path):
    mgr = CheckpointManager(tmp_path / "none")
    assert mgr.load_latest() is None and not mgr.has_checkpoint()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / LATEST).write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        CheckpointManager(tmp_path / "bad").load_latest()


def test_foreign_or_unsafe_files_are_refused(tmp_path):
    torch.save({"just": "a dict"}, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="not a decig training checkpoint"):
        read_checkpoint(tmp_path / "a.pt")

    torch.save({"format": "decig-train-checkpoint", "x": Arbitrary()}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        read_checkpoint(tmp_path / "b.pt")


def test_non_writer_rank_writes_nothing(tmp_path):
    assert CheckpointManager(tmp_path, writer=False).save(1, _payload(1.0)) is None
    assert list(tmp_path.iterdir()) == []


def test_atomic_save_replaces_whole_file(tmp_path):
    target = tmp_path / "x.pt"
    atomic_torch_save({"a": torch.arange(3)}, target)
    atomic_torch_save({"a": torch.arange(5)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.arange(5))
