"""CelebAMask-HQ: per-part binary masks combined into one colour-coded label map (A) for each photo (B).

Layout (as distributed)::

    ROOT/CelebA-HQ-img/{id}.jpg                                   1024x1024 photos, id 0..29999
    ROOT/CelebAMask-HQ-mask-anno/{id // 2000}/{id:05d}_{part}.png  512x512 binary masks, one per part

An id has only the parts visible in its photo (most have no hat or earring). Labels are
``1 + MASK_PARTS.index(part)`` with 0 = background, and parts are painted in ``MASK_PARTS`` order,
so later parts cover earlier ones where masks overlap (hair over skin, hat over hair, cloth last),
the order the dataset's own label-map script uses. The label map is resized with nearest
neighbour to the photo size, then coloured with ``MASK_PALETTE``:

====  =======  ===============   ====  =======  ===============
 0    backgr.  (0, 0, 0)          10   mouth    (150, 0, 40)
 1    skin     (230, 180, 150)    11   u_lip    (255, 40, 40)
 2    nose     (200, 110, 60)     12   l_lip    (200, 20, 90)
 3    eye_g    (120, 120, 120)    13   hair     (255, 220, 0)
 4    l_eye    (0, 90, 255)       14   hat      (0, 140, 70)
 5    r_eye    (0, 170, 255)      15   ear_r    (255, 0, 255)
 6    l_brow   (120, 60, 20)      16   neck_l   (0, 255, 200)
 7    r_brow   (170, 90, 30)      17   neck     (180, 140, 255)
 8    l_ear    (255, 130, 170)    18   cloth    (40, 60, 120)
 9    r_ear    (255, 90, 130)
====  =======  ===============   ====  =======  ===============

Splits: a text file of ids (one per line, ``#`` comments allowed) or a seeded shuffle of all ids
cut by ratios. The ratio split depends on the set of ids present; use a split file when the
split must survive adding or removing images.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from decig.data.base import Sample, SeededImageDataset, check_direction, scan_size
from decig.data.images import is_image_file, read_image, to_tensor
from decig.data.transforms import TransformConfig, apply_transform, get_params
from decig.core.errors import DataError
from decig.core.log import progress

IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
IDS_PER_FOLDER = 2000
MASK_PARTS = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
MASK_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (230, 180, 150), (200, 110, 60), (120, 120, 120), (0, 90, 255), (0, 170, 255),
    (120, 60, 20), (170, 90, 30), (255, 130, 170), (255, 90, 130), (150, 0, 40), (255, 40, 40),
    (200, 20, 90), (255, 220, 0), (0, 140, 70), (255, 0, 255), (0, 255, 200), (180, 140, 255),
    (40, 60, 120),
)  # fmt: skip
SPLITS = ("train", "val", "test")
_MASK_NAME = re.compile(r"^(\d+)_(\w+)\.png$")
_PALETTE_ARRAY = np.array(MASK_PALETTE, dtype=np.uint8)


@dataclass(frozen=True)
class FaceRecord:
    """One id: its photo and the mask file of every part it has."""

    id: int
    image: Path
    masks: dict[str, Path]

    @property
    def masks_pattern(self) -> str:
        """Readable stand-in for the A "path" (A is built from several files)."""
        folder = next(iter(self.masks.values())).parent
        return str(folder / f"{self.id:05d}_*.png")


def _scan_images(image_dir: Path) -> dict[int, Path]:
    if not image_dir.is_dir():
        raise DataError(f"directory {image_dir} not found; expected CelebAMask-HQ layout with {IMAGE_DIR}/{{id}}.jpg")
    images: dict[int, Path] = {}
    for path in sorted(image_dir.iterdir()):
        if not (path.is_file() and is_image_file(path)):
            continue
        if not path.stem.isdigit():
            raise DataError(f"unexpected image name {path}; CelebA-HQ photos are named <id>.jpg")
        images[int(path.stem)] = path
    if not images:
        raise DataError(f"directory {image_dir} contains no images")
    return images


def _scan_masks(mask_dir: Path) -> dict[int, dict[str, Path]]:
    if not mask_dir.is_dir():
        raise DataError(f"directory {mask_dir} not found; expected {MASK_DIR}/{{id // 2000}}/{{id:05d}}_{{part}}.png")
    masks: dict[int, dict[str, Path]] = {}
    for folder in sorted(p for p in mask_dir.iterdir() if p.is_dir()):
        if not folder.name.isdigit():
            raise DataError(f"unexpected folder {folder}; mask folders are numbered 0, 1, ... (id // 2000)")
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() != ".png":
                continue
            match = _MASK_NAME.match(path.name)
            if not match or match.group(2) not in MASK_PARTS:
                raise DataError(f"unexpected mask name {path}; expected <id:05d>_<part>.png, part one of {MASK_PARTS}")
            face_id = int(match.group(1))
            if face_id // IDS_PER_FOLDER != int(folder.name):
                raise DataError(
                    f"mask {path} is in folder {folder.name} but id {face_id} belongs in folder "
                    f"{face_id // IDS_PER_FOLDER} (id // {IDS_PER_FOLDER})"
                )
            masks.setdefault(face_id, {})[match.group(2)] = path
    return masks


def scan_layout(root: str | Path) -> dict[int, FaceRecord]:
    """Pair every photo with its masks by file name (no decoding); fail on any unpaired id."""
    root = Path(root)
    images = _scan_images(root / IMAGE_DIR)
    masks = _scan_masks(root / MASK_DIR)
    for face_id, image in images.items():
        if face_id not in masks:
            folder = root / MASK_DIR / str(face_id // IDS_PER_FOLDER)
            raise DataError(
                f"id {face_id} has an image ({image}) but no part masks in {folder} (e.g. {face_id:05d}_skin.png)"
            )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        first = next(iter(masks[orphans[0]].values()))
        raise DataError(
            f"mismatched counts: {len(images)} images in {root / IMAGE_DIR} but part masks for {len(masks)} ids in "
            f"{root / MASK_DIR}; {len(orphans)} ids have masks but no image, first: id {orphans[0]} ({first})"
        )
    return {face_id: FaceRecord(face_id, images[face_id], masks[face_id]) for face_id in sorted(images)}


def read_split_file(path: str | Path) -> list[int]:
    """Ids listed one per line; blank lines and ``#`` comments are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} does not exist")
    ids: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not text.isdigit():
            raise DataError(f"split file {path}, line {lineno}: expected an integer id, got {text!r}")
        ids.append(int(text))
    if len(set(ids)) != len(ids):
        raise DataError(f"split file {path} lists some ids more than once")
    if not ids:
        raise DataError(f"split file {path} lists no ids")
    return ids


def ratio_split(ids: Sequence[int], split: str, ratios: Sequence[float], seed: int) -> list[int]:
    """Deterministic split: shuffle sorted ids with a seeded private RNG, cut train/val/test by ``ratios``."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)} or 'all', got {split!r}")
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise DataError(
            f"split ratios must be three non-negative numbers (train, val, test) summing to 1, got {ratios}"
        )
    shuffled = sorted(ids)
    random.Random(f"decig/celebamask-split/{seed}").shuffle(shuffled)
    n_train = int(len(shuffled) * ratios[0])
    n_val = int(len(shuffled) * ratios[1])
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(shuffled))}
    start, stop = bounds[split]
    chosen = sorted(shuffled[start:stop])
    if not chosen:
        raise DataError(f"split {split!r} is empty: {len(ids)} ids with ratios {tuple(ratios)}")
    return chosen


def label_index_map(record: FaceRecord) -> np.ndarray:
    """``uint8 [H, W]`` labels at mask resolution, parts painted in ``MASK_PARTS`` order."""
    index: np.ndarray | None = None
    first: Path | None = None
    for label, part in enumerate(MASK_PARTS, start=1):
        if part not in record.masks:
            continue
        mask = np.asarray(read_image(record.masks[part], mode="L"))
        if index is None:
            index, first = np.zeros(mask.shape, dtype=np.uint8), record.masks[part]
        elif mask.shape != index.shape:
            raise DataError(_mask_size_message(record, record.masks[part], mask.shape[::-1], first, index.shape[::-1]))
        # Threshold at half intensity rather than "non-zero": masks are 0/255, and a resaved or
        # resampled mask's faint edge pixels must not grow the part.
        index[mask >= 128] = label
    assert index is not None  # scan_layout guarantees at least one mask
    return index


def _mask_size_message(
    record: FaceRecord, path: Path, size: tuple[int, ...], other: Path | None, other_size: tuple[int, ...]
) -> str:
    return (
        f"mask {path} is {size[0]}x{size[1]} but mask {other} of the same id {record.id} is "
        f"{other_size[0]}x{other_size[1]}; all part masks of an id must have one size"
    )


def colorize(index: np.ndarray) -> Image.Image:
    """Label indices -> RGB label map in ``MASK_PALETTE``."""
    return Image.fromarray(_PALETTE_ARRAY[index])


class MaskImageDataset(SeededImageDataset):
    """A = colour label map built from the part masks, B = photo, both at the photo's size.

    ``direction="BtoA"`` swaps them (photo -> label map, i.e. face parsing).
    """

    def __init__(
        self,
        records: Sequence[FaceRecord],
        *,
        direction: str = "AtoB",
        transform: TransformConfig | None = None,
        seed: int = 0,
        divisible_by: int | None = None,
        full_decode: bool = True,
    ) -> None:
        super().__init__(transform or TransformConfig(), seed, divisible_by)
        check_direction(direction)
        if not records:
            raise DataError("CelebAMask-HQ dataset has no ids")
        self.direction = direction
        self.records = list(records)
        for record in progress(self.records, desc="checking faces", unit="id"):
            self._check_record(record, full_decode)

    def _check_record(self, record: FaceRecord, full_decode: bool) -> None:
        img_w, img_h = scan_size(record.image, full_decode)
        mask_sizes = {part: scan_size(path, full_decode) for part, path in record.masks.items()}
        (first_part, (mask_w, mask_h)), *_ = mask_sizes.items()
        for part, size in mask_sizes.items():
            if size != (mask_w, mask_h):
                raise DataError(
                    _mask_size_message(record, record.masks[part], size, record.masks[first_part], (mask_w, mask_h))
                )
        # The label map is scaled to the photo, which only keeps parts in place if shapes agree.
        if mask_w * img_h != mask_h * img_w:
            raise DataError(
                f"masks of id {record.id} are {mask_w}x{mask_h} but image {record.image} is {img_w}x{img_h}: "
                f"aspect ratios differ"
            )
        self.check_network_size(record.image, (img_w, img_h))

    @classmethod
    def from_root(
        cls,
        root: str | Path,
        split: str = "train",
        *,
        split_file: str | Path | None = None,
        ratios: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        **opts: Any,
    ) -> MaskImageDataset:
        """``split`` is "train"/"val"/"test" (ratio split), "all", or a label when ``split_file`` is given."""
        records = scan_layout(root)
        if split_file is not None:
            ids = read_split_file(split_file)
            missing = [i for i in ids if i not in records]
            if missing:
                raise DataError(f"split file {split_file} lists {len(missing)} ids not in {root}, first: {missing[0]}")
        elif split == "all":
            ids = list(records)
        else:
            ids = ratio_split(list(records), split, ratios, split_seed)
        return cls([records[i] for i in ids], **opts)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        record = self.records[index]
        photo = read_image(record.image)
        labels = Image.fromarray(label_index_map(record)).resize(photo.size, Image.Resampling.NEAREST)
        params = get_params(self.transform, photo.size, self.rng(index))
        # Nearest neighbour keeps the label map to palette colours; the photo gets pix2pix's bicubic.
        label_img = apply_transform(colorize(np.asarray(labels)), self.transform, params, Image.Resampling.NEAREST)
        a, b = to_tensor(label_img), to_tensor(apply_transform(photo, self.transform, params))
        a_path, b_path = record.masks_pattern, str(record.image)
        if self.direction == "BtoA":
            a, b, a_path, b_path = b, a, b_path, a_path
        return {"A": a, "B": b, "A_path": a_path, "B_path": b_path}
