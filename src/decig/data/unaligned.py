"""CycleGAN "unaligned" datasets: ``root/{split}A`` and ``root/{split}B`` with unpaired images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decig.data.base import Sample, SeededImageDataset, check_direction, list_images, scan_size
from decig.data.images import read_image, to_tensor
from decig.data.transforms import TransformConfig, apply_transform, get_params
from decig.core.errors import DataError
from decig.core.log import progress

LAYOUT = "ROOT/{trainA,trainB,testA,testB}/*.jpg|png (unpaired; A and B counts may differ)"


class UnalignedDataset(SeededImageDataset):
    """Unpaired domains A and B; an epoch has ``max(len(A), len(B))`` samples, as in CycleGAN.

    A is visited in order. B is picked at ``index % len(B)`` with ``serial_batches``, otherwise at
    a random position drawn from the sample's own RNG, so pairs change every epoch yet stay
    reproducible. A and B get independent crops and flips: they are not pixel-aligned anyway.
    """

    def __init__(
        self,
        paths_a: Sequence[Path],
        paths_b: Sequence[Path],
        *,
        direction: str = "AtoB",
        serial_batches: bool = False,
        transform: TransformConfig | None = None,
        seed: int = 0,
        divisible_by: int | None = None,
        full_decode: bool = True,
    ) -> None:
        super().__init__(transform or TransformConfig(), seed, divisible_by)
        check_direction(direction)
        if not paths_a or not paths_b:
            raise DataError("unaligned dataset needs at least one image in each of A and B")
        self.paths_a = [Path(p) for p in paths_a]
        self.paths_b = [Path(p) for p in paths_b]
        if direction == "BtoA":
            self.paths_a, self.paths_b = self.paths_b, self.paths_a
        self.direction = direction
        self.serial_batches = serial_batches
        for path in progress([*self.paths_a, *self.paths_b], desc="checking images", unit="img"):
            self.check_network_size(path, scan_size(path, full_decode))

    @classmethod
    def from_root(cls, root: str | Path, split: str = "train", **opts: Any) -> UnalignedDataset:
        root = Path(root)
        return cls(list_images(root / f"{split}A", LAYOUT), list_images(root / f"{split}B", LAYOUT), **opts)

    def __len__(self) -> int:
        return max(len(self.paths_a), len(self.paths_b))

    def __getitem__(self, index: int) -> Sample:
        path_a = self.paths_a[index % len(self.paths_a)]
        if self.serial_batches:
            path_b = self.paths_b[index % len(self.paths_b)]
        else:
            path_b = self.paths_b[self.rng(index, "pairing").randrange(len(self.paths_b))]
        a, b = read_image(path_a), read_image(path_b)
        rng = self.rng(index)
        params_a = get_params(self.transform, a.size, rng)
        params_b = get_params(self.transform, b.size, rng)
        return {
            "A": to_tensor(apply_transform(a, self.transform, params_a)),
            "B": to_tensor(apply_transform(b, self.transform, params_b)),
            "A_path": str(path_a),
            "B_path": str(path_b),
        }
