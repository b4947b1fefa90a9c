"""Stage I under torchrun (2 CPU ranks, gloo): both ranks train, stay in sync, only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decig.train.checkpoint import read_checkpoint

WORKER = Path(__file__).with_name("ddp_stage1_worker.py")


def _write_aligned(root: Path, n: int = 6, size: int = 32) -> None:
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / "train" / f"{i}.png")


def _torchrun(data: Path, out: Path, results: Path, *mode: str) -> None:
    # One intra-op thread per rank: two ranks share the machine's cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), str(data), str(out), str(results), *mode,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_rank_training_stays_in_sync(tmp_path: Path) -> None:
    data, out, results = tmp_path / "data", tmp_path / "out", tmp_path / "results"
    _write_aligned(data)
    _torchrun(data, out, results)

    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in range(2)]
    assert [m["rank"] for m in ranks] == [0, 1]
    assert all(m["world_size"] == 2 and m["finished"] and m["step"] == 4 for m in ranks)
    # DDP averaged the gradients, so both ranks end with bit-identical generators.
    assert ranks[0]["G_sha256"] == ranks[1]["G_sha256"]
    # One α for all ranks (first-iteration L1 averaged over ranks before calibrating).
    assert ranks[0]["alpha"] == ranks[1]["alpha"] > 0

    ckpt = read_checkpoint(out / "checkpoints" / "latest.pt")
    assert ckpt["step"] == 4 and ckpt["meta"]["world_size"] == 2
    assert len(ckpt["rng"]) == 2  # every rank's RNG state, for exact resume
    assert (out / "generator" / "model.pt").is_file() and (out / "metrics.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["G_sha256"] == ranks[0]["G_sha256"]
    # Rank 0 is the only writer: no stray temporary files from a second writer.
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_rank_resume_is_bit_identical(tmp_path: Path) -> None:
    """Preempted after 2 of 4 steps and resumed: same weights as the uninterrupted 2-rank run."""
    data = tmp_path / "data"
    _write_aligned(data)
    _torchrun(data, tmp_path / "full", tmp_path / "r_full")
    _torchrun(data, tmp_path / "split", tmp_path / "r_stop", "stop=2")
    assert read_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")["step"] == 2
    _torchrun(data, tmp_path / "split", tmp_path / "r_resume", "resume")
    full = json.loads((tmp_path / "r_full" / "rank0.json").read_text())
    resumed = [json.loads((tmp_path / "r_resume" / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(m["resumed_from_step"] == 2 and m["finished"] for m in resumed)
    assert resumed[0]["G_sha256"] == resumed[1]["G_sha256"] == full["G_sha256"]
