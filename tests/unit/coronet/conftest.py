"""Fixtures of the CoroNetGAN tests: tiny generated datasets and configs (32x32 images, ngf 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.config import DecigConfig, load_config


def _write_aligned(root: Path, n: int = 6, size: int = 32, seed: int = 0) -> Path:
    # A|B side by side with B a fixed function of A, so the L1 loss has something to learn.
    rng = np.random.default_rng(seed)
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        b = (255 - a // 2).astype(np.uint8)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / "train" / f"{i:03d}.png")
    return root


def _write_unaligned(root: Path, n: int = 4, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for side in ("A", "B"):
        (root / f"train{side}").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"train{side}" / f"{i}.png")
    return root


PAIRED = [
    "method=coronet", "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32",
    "data.load_size=36", "data.crop_size=32", "stage1.batch_size=2", "coronet.log_every=1",
]  # fmt: skip
UNPAIRED = [
    "method=coronet", "data.format=unaligned", "model.arch=resnet_6blocks", "model.ngf=4", "model.ndf=4",
    "model.norm=instance", "model.dropout=false", "model.input_size=32", "data.load_size=32", "data.crop_size=32",
    "stage1.gan_mode=lsgan", "stage1.batch_size=2", "stage1.pool_size=3", "coronet.log_every=1",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    # Shared 2-core machine: one intra-op thread is faster for these tiny models.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def aligned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_aligned(tmp_path_factory.mktemp("aligned"))


@pytest.fixture(scope="session")
def unaligned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_unaligned(tmp_path_factory.mktemp("unaligned"))


@pytest.fixture()
def paired_config() -> Callable[..., DecigConfig]:
    return lambda *extra: load_config(overrides=[*PAIRED, *extra])


@pytest.fixture()
def unpaired_config() -> Callable[..., DecigConfig]:
    return lambda *extra: load_config(overrides=[*UNPAIRED, *extra])


@pytest.fixture()
def paired_overrides() -> list[str]:
    """The ``--set`` items of :func:`paired_config`, for CLI tests."""
    return list(PAIRED)
