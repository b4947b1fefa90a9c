"""An interrupted CoroNet run resumed from its checkpoint ends exactly where an uninterrupted one does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from decig.config import DecigConfig
from decig.coronet.stage import coronet_stage
from decig.models.persistence import load_model


class _Preempted(Exception):
    pass


@pytest.mark.slow
def test_resume_after_interruption_is_bit_identical(
    tmp_path: Path, aligned_root: Path, paired_config: Callable[..., DecigConfig]
) -> None:
    # Deadline at step 4 of 6: the sparsifier's state (strength, masks) must survive the restart.
    cfg = paired_config("coronet.steps=6", "coronet.checkpoint_every=3", "coronet.sparsify_until=0.67",
                        "coronet.target_ratio=0.5")  # fmt: skip
    straight = coronet_stage(cfg, aligned_root, None, tmp_path / "straight")

    def preempt(step: int, _: dict) -> None:
        if step == 5:  # step 3's checkpoint is on disk; the run dies before step 6
            raise _Preempted

    with pytest.raises(_Preempted):
        coronet_stage(cfg, aligned_root, None, tmp_path / "resumed", on_metrics=preempt)
    assert not (tmp_path / "resumed" / "model").exists()
    resumed = coronet_stage(cfg, aligned_root, None, tmp_path / "resumed", resume=True)
    assert resumed["params"] == straight["params"] and resumed["loss_G"] == straight["loss_G"]
    a, _ = load_model(tmp_path / "straight" / "model")
    b, _ = load_model(tmp_path / "resumed" / "model")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
