"""Reading images safely and converting them to and from the pix2pix tensor convention.

Every reader forces a full decode (``Image.load``): Pillow opens files lazily, so a truncated
JPEG/PNG would otherwise only fail deep inside a DataLoader worker, epochs into training.
All failures become :class:`DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from decig.core.errors import DataError

# Extensions accepted as images when listing a folder (compared lower-cased).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"})

# What Pillow raises for unreadable or damaged data: UnidentifiedImageError (an OSError) for
# unknown formats, OSError("image file is truncated") and SyntaxError/ValueError/EOFError from
# individual decoders on corrupt streams.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"image {path} is an empty file (0 bytes)")
    try:
        return Image.open(path)
    except _DECODE_ERRORS as err:
        raise DataError(f"image {path} cannot be read: {err}") from err


def _check_nonempty(path: Path, size: tuple[int, int]) -> None:
    if size[0] <= 0 or size[1] <= 0:
        raise DataError(f"image {path} has zero size ({size[0]}x{size[1]})")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header only: cheap, but does not detect truncation."""
    path = Path(path)
    with _open(path) as img:
        _check_nonempty(path, img.size)
        return img.size


def read_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Fully decode ``path`` and convert it to ``mode`` ("RGB" for photos, "L" for masks)."""
    path = Path(path)
    with _open(path) as img:
        _check_nonempty(path, img.size)
        try:
            img.load()
            return img.convert(mode)
        except _DECODE_ERRORS as err:
            raise DataError(f"image {path} is truncated or corrupt: {err}") from err


def read_image_uint8(path: str | Path) -> np.ndarray:
    """RGB pixels as a ``uint8`` array of shape ``[H, W, 3]``."""
    return np.asarray(read_image(path), dtype=np.uint8)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor ``[3, H, W]`` in [-1, 1] (pix2pix's ToTensor + Normalize(0.5, 0.5))."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    pixels = torch.from_numpy(np.array(img, dtype=np.uint8))  # copy: np.asarray of a PIL image is read-only
    return pixels.permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def read_image_tensor(path: str | Path) -> torch.Tensor:
    return to_tensor(read_image(path))


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """Inverse of :func:`to_tensor` for one image ``[3, H, W]`` (values outside [-1, 1] are clipped)."""
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a [3, H, W] tensor, got shape {tuple(tensor.shape)}")
    scaled = (tensor.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5
    pixels = scaled.round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(pixels)
