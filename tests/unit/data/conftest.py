"""Writers for tiny datasets in the real on-disk layouts, handed to tests as fixtures.

With ``--import-mode=importlib`` test modules cannot import each other, so each writer is a
fixture returning a function. Images are PNG (lossless) unless a test needs JPEG, so pixel
checks can be exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decig.data.celebamask import IMAGE_DIR, MASK_DIR


def _save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_aligned(
    root: Path, split: str = "train", n: int = 3, width: int = 64, height: int = 32, seed: int = 0
) -> list[Path]:
    """``root/split/NNN.png``: A|B side by side, B = 255 - A so alignment is checkable per pixel."""
    rng = np.random.default_rng(seed)
    half = width // 2
    paths = []
    for i in range(n):
        a = rng.integers(0, 256, (height, half, 3), dtype=np.uint8)
        ab = np.concatenate([a, 255 - a], axis=1)
        if width % 2:  # an odd total width: one extra column on the right
            ab = np.concatenate([ab, ab[:, -1:]], axis=1)
        paths.append(_save(ab, root / split / f"{i:03d}.png"))
    return paths


def write_unaligned(
    root: Path, split: str = "train", n_a: int = 3, n_b: int = 2, size: tuple[int, int] = (32, 32), seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """``root/{split}A`` and ``root/{split}B``; every image is one flat colour (its own index), W x H = ``size``."""
    del seed  # flat colours: the index is readable back from any crop
    w, h = size
    paths: dict[str, list[Path]] = {"A": [], "B": []}
    for domain, n in (("A", n_a), ("B", n_b)):
        for i in range(n):
            value = 10 * i + (100 if domain == "B" else 0)
            pixels = np.full((h, w, 3), value, dtype=np.uint8)
            paths[domain].append(_save(pixels, root / f"{split}{domain}" / f"{domain.lower()}{i:02d}.png"))
    return paths["A"], paths["B"]


def face_photo(size: int, face_id: int) -> np.ndarray:
    """A photo whose pixel (y, x) encodes its position, so crops and flips can be traced."""
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([x * 255 // max(1, size - 1), y * 255 // max(1, size - 1), np.full_like(x, face_id % 256)], axis=-1).astype(
        np.uint8
    )


def face_masks(mask_size: int) -> dict[str, np.ndarray]:
    """skin: whole middle square; hair: top half (overlaps skin); nose: a small centre block."""
    m = mask_size
    skin = np.zeros((m, m), dtype=np.uint8)
    skin[m // 4 : 3 * m // 4, m // 4 : 3 * m // 4] = 255
    hair = np.zeros((m, m), dtype=np.uint8)
    hair[: m // 2, :] = 255
    nose = np.zeros((m, m), dtype=np.uint8)
    nose[m // 2 : m // 2 + 2, m // 2 - 1 : m // 2 + 1] = 255
    return {"skin": skin, "hair": hair, "nose": nose}


def write_celebamask(
    root: Path,
    ids: Sequence[int] = (0, 1, 2, 3),
    image_size: int = 64,
    mask_size: int = 32,
    parts: Sequence[str] = ("skin", "hair", "nose"),
    image_ext: str = ".jpg",
) -> Path:
    """CelebAMask-HQ layout: ``CelebA-HQ-img/{id}.jpg`` and ``CelebAMask-HQ-mask-anno/{id//2000}/{id:05d}_{part}.png``."""
    masks = face_masks(mask_size)
    for face_id in ids:
        photo = face_photo(image_size, face_id)
        path = root / IMAGE_DIR / f"{face_id}{image_ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(path, quality=95)  # PNG ignores quality
        for part in parts:
            _save(masks[part], root / MASK_DIR / str(face_id // 2000) / f"{face_id:05d}_{part}.png")
    return root


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to a fraction of its bytes, as an interrupted copy or download would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.fixture
def aligned_writer() -> Callable[..., list[Path]]:
    return write_aligned


@pytest.fixture
def unaligned_writer() -> Callable[..., tuple[list[Path], list[Path]]]:
    return write_unaligned


@pytest.fixture
def celebamask_writer() -> Callable[..., Path]:
    return write_celebamask


@pytest.fixture
def truncate_file() -> Callable[..., Path]:
    return truncate


@pytest.fixture
def face_mask_arrays() -> Callable[[int], dict[str, np.ndarray]]:
    return face_masks


@pytest.fixture
def face_photo_array() -> Callable[[int, int], np.ndarray]:
    return face_photo
