"""Fixtures of the training tests: tiny datasets (32x32), tiny configs, exact state comparison.

With ``--import-mode=importlib`` test modules cannot import each other, so helpers are handed
to tests as fixtures (``paired_config``, ``unpaired_config``, ``tree_equal``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.config import DecigConfig, load_config


def write_aligned(root: Path, n: int = 6, size: int = 32, seed: int = 0) -> Path:
    """pix2pix layout root/train/*.png, each A|B side by side; B is a smooth function of A."""
    rng = np.random.default_rng(seed)
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        b = (255 - a // 2).astype(np.uint8)  # a learnable mapping, so losses move
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / "train" / f"{i:03d}.png")
    return root


def write_unaligned(root: Path, n_a: int = 5, n_b: int = 4, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for side, n in (("A", n_a), ("B", n_b)):
        (root / f"train{side}").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"train{side}" / f"{i}.png")
    return root


PAIRED_OVERRIDES = [
    "model.arch=unet_32",
    "model.ngf=4",
    "model.ndf=4",
    "model.input_size=32",
    "data.load_size=36",
    "data.crop_size=32",
    "stage1.batch_size=2",
    "stage1.device=cpu",
    "stage1.penalty.factor=mac",
    "stage1.log_every=1",
]

UNPAIRED_OVERRIDES = [
    "data.format=unaligned",
    "model.arch=resnet_6blocks",
    "model.ngf=4",
    "model.ndf=4",
    "model.norm=instance",
    "model.dropout=false",
    "model.input_size=32",
    "data.load_size=32",
    "data.crop_size=32",
    "stage1.gan_mode=lsgan",
    "stage1.batch_size=2",
    "stage1.pool_size=3",
    "stage1.device=cpu",
    "stage1.penalty.factor=mac",
    "stage1.log_every=1",
]


def _paired_config(*extra: str) -> DecigConfig:
    return load_config(overrides=[*PAIRED_OVERRIDES, *extra])


def _unpaired_config(*extra: str) -> DecigConfig:
    return load_config(overrides=[*UNPAIRED_OVERRIDES, *extra])


def _tree_equal(a: object, b: object, path: str = "") -> int:
    """Recursively compare nested dicts/lists of tensors with torch.equal; returns tensors compared."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), f"{path}: tensor vs {type(b).__name__}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
        assert torch.equal(a, b), f"{path}: tensors differ (max abs diff {(a.double() - b.double()).abs().max().item():.3g})"
        return 1
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        return sum(_tree_equal(a[k], b[k], f"{path}.{k}") for k in a)
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: lengths differ"
        return sum(_tree_equal(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"  # NaN == NaN for our purposes
    return 0


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    # Tiny models: one intra-op thread is faster, and on a shared 2-core machine it keeps the
    # timing stable (two spinning threads per process collapse under contention).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def aligned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_aligned(tmp_path_factory.mktemp("aligned"))


@pytest.fixture(scope="session")
def unaligned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_unaligned(tmp_path_factory.mktemp("unaligned"))



@pytest.fixture()
def paired_config() -> Callable[..., DecigConfig]:
    """``paired_config("stage1.steps=4", ...)``: unet_32 ngf 4 on 32x32 aligned pairs, CPU, MAC factors."""
    return _paired_config


@pytest.fixture()
def unpaired_config() -> Callable[..., DecigConfig]:
    """``unpaired_config(...)``: resnet_6blocks ngf 4, instance norm, lsgan, pool 3, on 32x32 unaligned images."""
    return _unpaired_config


@pytest.fixture()
def tree_equal() -> Callable[..., int]:
    """``tree_equal(a, b)``: nested dicts/lists compared tensor by tensor with torch.equal."""
    return _tree_equal
