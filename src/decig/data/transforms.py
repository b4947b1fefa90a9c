"""pix2pix-style preprocessing (resize / crop / flip) with reproducible per-sample randomness.

The reference implementation draws crop positions and flips from Python's global ``random``
module, so results depend on how samples are spread over DataLoader workers. Here the random
parameters of sample ``index`` in ``epoch`` come from a private ``random.Random`` seeded with
``(seed, epoch, index)``: any worker count, order or restart produces the same crops and flips.

Modes (``TransformConfig.preprocess``), as in pix2pix:

- ``resize_and_crop``: resize to ``load_size`` x ``load_size``, then random-crop ``crop_size``.
- ``crop``: random-crop ``crop_size`` from the image at its original size.
- ``scale_width``: scale to width ``load_size`` keeping the aspect ratio (height at least ``crop_size``).
- ``scale_width_and_crop``: ``scale_width``, then random-crop ``crop_size``.
- ``none``: keep the image as it is. Unlike pix2pix, which silently rounds sizes to a multiple
  of 4 here, the size is left alone so that a size a network cannot take is reported
  (``divisible_by``) instead of hidden by a resize.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from decig.core.errors import DataError

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


@dataclass(frozen=True)
class TransformConfig:
    """Preprocessing options; the defaults are pix2pix's training defaults."""

    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS_MODES:
            raise DataError(f"unknown preprocess mode {self.preprocess!r}; choose one of {', '.join(PREPROCESS_MODES)}")
        if self.load_size <= 0 or self.crop_size <= 0:
            raise DataError(f"load_size and crop_size must be positive, got {self.load_size} and {self.crop_size}")
        # Both modes resize the width to load_size before cropping, so a larger crop can never fit.
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop") and self.crop_size > self.load_size:
            raise DataError(f"crop_size {self.crop_size} is larger than load_size {self.load_size} ({self.preprocess})")

    @property
    def crops(self) -> bool:
        return self.preprocess.endswith("crop")


@dataclass(frozen=True)
class SampleParams:
    """Random choices for one sample, shared by both images of a pair."""

    crop_x: int = 0
    crop_y: int = 0
    flip: bool = False


def sample_rng(seed: int, epoch: int, index: int, stream: str = "transform") -> random.Random:
    """A private RNG for one sample; ``stream`` separates independent uses (e.g. transform vs pairing).

    A string seed is hashed with SHA-512 by ``random.Random``, so it is stable across processes
    and Python runs (unlike ``hash()``, which is salted per process).
    """
    return random.Random(f"decig/{stream}/{seed}/{epoch}/{index}")


def resized_size(cfg: TransformConfig, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) after the resize step, before cropping."""
    w, h = size
    if cfg.preprocess == "resize_and_crop":
        return cfg.load_size, cfg.load_size
    if cfg.preprocess.startswith("scale_width"):
        if w == cfg.load_size and h >= cfg.crop_size:
            return w, h
        # pix2pix keeps the height at least crop_size so a later crop always fits.
        return cfg.load_size, max(cfg.load_size * h // w, cfg.crop_size)
    return w, h


def output_size(cfg: TransformConfig, size: tuple[int, int], path: str | Path) -> tuple[int, int]:
    """(width, height) of the network input made from an image of ``size`` read from ``path``.

    Raises DataError when the crop does not fit: pix2pix would silently pad with black there.
    """
    w, h = resized_size(cfg, size)
    if not cfg.crops:
        return w, h
    if w < cfg.crop_size or h < cfg.crop_size:
        raise DataError(
            f"image {path} is {w}x{h} after resizing ({cfg.preprocess}), smaller than crop_size {cfg.crop_size}"
        )
    return cfg.crop_size, cfg.crop_size


def get_params(cfg: TransformConfig, size: tuple[int, int], rng: random.Random) -> SampleParams:
    """Draw crop position and flip for an image of ``size`` (before resizing)."""
    w, h = resized_size(cfg, size)
    x = y = 0
    if cfg.crops:
        x = rng.randint(0, max(0, w - cfg.crop_size))
        y = rng.randint(0, max(0, h - cfg.crop_size))
    flip = cfg.flip and rng.random() < 0.5
    return SampleParams(crop_x=x, crop_y=y, flip=flip)


def apply_transform(
    img: Image.Image,
    cfg: TransformConfig,
    params: SampleParams,
    resample: Image.Resampling = Image.Resampling.BICUBIC,
) -> Image.Image:
    """Resize, crop and flip ``img``; use ``resample=NEAREST`` for label maps so no new colours appear."""
    target = resized_size(cfg, img.size)
    if target != img.size:
        img = img.resize(target, resample)
    if cfg.crops:
        c = cfg.crop_size
        img = img.crop((params.crop_x, params.crop_y, params.crop_x + c, params.crop_y + c))
    if params.flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img
