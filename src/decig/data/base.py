"""What every dataset format shares: seeding per (seed, epoch, index), size checks, file listing.

Datasets validate their whole split in the constructor, so a broken file stops the run before
the first training step rather than hours in, inside a DataLoader worker.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from decig.data.images import image_size, is_image_file, read_image
from decig.data.transforms import TransformConfig, output_size, sample_rng
from decig.core.errors import DataError

Sample = dict[str, Any]
DIRECTIONS = ("AtoB", "BtoA")


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def list_images(directory: Path, layout_hint: str) -> list[Path]:
    """Sorted image files directly inside ``directory``; ``layout_hint`` tells the user what was expected."""
    if not directory.is_dir():
        raise DataError(f"directory {directory} not found; expected layout: {layout_hint}")
    paths = sorted(p for p in directory.iterdir() if p.is_file() and is_image_file(p))
    if not paths:
        raise DataError(f"directory {directory} contains no images (.jpg/.png/...); expected layout: {layout_hint}")
    return paths


def scan_size(path: Path, full_decode: bool) -> tuple[int, int]:
    """Image size, decoding every pixel when ``full_decode`` so truncated files fail now."""
    return read_image(path).size if full_decode else image_size(path)


def _describe_divisor(n: int) -> str:
    if n & (n - 1) == 0 and n > 1:
        downs = n.bit_length() - 1
        return f"a U-Net with {downs} downsamplings (unet_{n}) needs sizes divisible by {n}"
    return f"the network needs sizes divisible by {n}"


class SeededImageDataset(Dataset[Sample]):
    """Base class: transform options, per-sample RNG, network size checks and a scan summary.

    Call :meth:`set_epoch` before each epoch (as with ``DistributedSampler``) to get new crops and
    flips. DataLoader workers receive a copy of the dataset when an iterator is created, so with
    ``persistent_workers=True`` the epoch must not change after the first iterator.
    """

    def __init__(self, transform: TransformConfig, seed: int, divisible_by: int | None) -> None:
        if divisible_by is not None and divisible_by <= 0:
            raise DataError(f"divisible_by must be a positive integer, got {divisible_by}")
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.divisible_by = divisible_by
        # Filled by the up-front scan; `decig data check` prints them.
        self.input_sizes: Counter[tuple[int, int]] = Counter()
        self.output_sizes: Counter[tuple[int, int]] = Counter()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, index: int, stream: str = "transform") -> random.Random:
        return sample_rng(self.seed, self.epoch, index, stream)

    def check_network_size(self, path: Path, size: tuple[int, int]) -> None:
        """Record ``size`` and fail if the preprocessed image cannot enter the network."""
        out_w, out_h = output_size(self.transform, size, path)
        self.input_sizes[size] += 1
        self.output_sizes[(out_w, out_h)] += 1
        n = self.divisible_by
        if n is not None and (out_w % n or out_h % n):
            raise DataError(
                f"image {path} is {out_w}x{out_h} after preprocessing ({self.transform.preprocess}); "
                f"{_describe_divisor(n)}. Resize/crop to a multiple of {n} (load_size/crop_size) or pick a "
                f"network with fewer downsamplings"
            )

    def summary(self) -> dict[str, Any]:
        """Counts and sizes found by the scan, for reports and ``decig data check``."""

        def fmt(counter: Counter[tuple[int, int]]) -> dict[str, int]:
            return {f"{w}x{h}": n for (w, h), n in sorted(counter.items())}

        return {
            "format": type(self).__name__,
            "samples": len(self),
            "input_sizes": fmt(self.input_sizes),
            "output_sizes": fmt(self.output_sizes),
            "preprocess": self.transform.preprocess,
        }

    def __len__(self) -> int:  # pragma: no cover - every format overrides it
        raise NotImplementedError
