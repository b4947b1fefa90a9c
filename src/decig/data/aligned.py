"""pix2pix "aligned" datasets: ``root/{train,val,test}/*.jpg``, each file holding A and B side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from decig.data.base import Sample, SeededImageDataset, check_direction, list_images, scan_size
from decig.data.images import read_image, to_tensor
from decig.data.transforms import TransformConfig, apply_transform, get_params
from decig.core.errors import DataError
from decig.core.log import progress

LAYOUT = "ROOT/{train,val,test}/*.jpg|png, each image A|B side by side (A left, B right)"


def _half_width(path: Path, width: int) -> int:
    if width % 2:
        raise DataError(f"image {path} has odd width {width}; an aligned A|B image must be two equal halves")
    return width // 2


def _split_pair(path: Path, ab: Image.Image) -> tuple[Image.Image, Image.Image]:
    half, h = _half_width(path, ab.width), ab.height
    return ab.crop((0, 0, half, h)), ab.crop((half, 0, 2 * half, h))


class AlignedDataset(SeededImageDataset):
    """Paired images; ``direction="BtoA"`` swaps the halves so B becomes the input."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        direction: str = "AtoB",
        transform: TransformConfig | None = None,
        seed: int = 0,
        divisible_by: int | None = None,
        full_decode: bool = True,
    ) -> None:
        super().__init__(transform or TransformConfig(), seed, divisible_by)
        check_direction(direction)
        if not paths:
            raise DataError("aligned dataset has no images")
        self.paths = [Path(p) for p in paths]
        self.direction = direction
        for path in progress(self.paths, desc="checking images", unit="img"):
            w, h = scan_size(path, full_decode)
            self.check_network_size(path, (_half_width(path, w), h))

    @classmethod
    def from_root(cls, root: str | Path, split: str = "train", **opts: Any) -> AlignedDataset:
        return cls(list_images(Path(root) / split, LAYOUT), **opts)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Sample:
        path = self.paths[index]
        a, b = _split_pair(path, read_image(path))
        if self.direction == "BtoA":
            a, b = b, a
        # One draw for both halves: the pair must stay pixel-aligned after crop and flip.
        params = get_params(self.transform, a.size, self.rng(index))
        return {
            "A": to_tensor(apply_transform(a, self.transform, params)),
            "B": to_tensor(apply_transform(b, self.transform, params)),
            "A_path": str(path),
            "B_path": str(path),
        }
