"""Image batches for the Inception feature extractor: uint8 RGB ``[B, 3, H, W]`` tensors.

torch-fidelity's extractor takes uint8 images of any size and resizes them itself (TF1-exact
bilinear to 299x299), so sources only decode and quantize. Generator outputs in [-1, 1] are
quantized like the pix2pix/CycleGAN reference ``tensor2im`` (``(x + 1) / 2 * 255`` truncated to
uint8) so in-memory evaluation sees exactly the pixels the reference would have saved as PNG and
that published FIDs were computed from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from decig.core.errors import EvaluationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` float images in [-1, 1] -> uint8 RGB; one channel is repeated to three."""
    if images.dim() != 4:
        raise EvaluationError(f"expected images shaped [batch, channels, height, width], got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        pixels = images
    else:
        # clamp first: a tanh output is already inside [-1, 1], but inputs from elsewhere may not be.
        pixels = ((images.detach().float().clamp(-1, 1) + 1) / 2 * 255).to(torch.uint8)
    channels = pixels.shape[1]
    if channels == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    elif channels != 3:
        raise EvaluationError(f"FID needs RGB or grayscale images, got {channels} channels")
    return pixels.cpu().contiguous()


def tensor_batches(batches: Iterable[torch.Tensor] | torch.Tensor, batch_size: int = 16) -> Iterator[torch.Tensor]:
    """uint8 RGB batches from one big tensor or an iterable of tensors (e.g. generator outputs)."""
    if isinstance(batches, torch.Tensor):
        batches = [batches[i : i + batch_size] for i in range(0, batches.shape[0], batch_size)]
    for batch in batches:
        yield to_uint8_rgb(batch)


def list_images(directory: str | Path) -> list[Path]:
    """Image files directly in ``directory``, sorted by name so runs see the same order."""
    root = Path(directory)
    if not root.is_dir():
        raise EvaluationError(f"image folder {root} does not exist")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EvaluationError(f"image folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _load_rgb(path: Path) -> torch.Tensor:
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except OSError as err:
        raise EvaluationError(f"cannot read image {path}: {err}") from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def folder_batches(directory: str | Path, batch_size: int = 16) -> Iterator[torch.Tensor]:
    """uint8 RGB batches from an image folder; a batch is cut early when the image size changes."""
    batch: list[torch.Tensor] = []
    for path in list_images(directory):
        image = _load_rgb(path)
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            yield torch.stack(batch)
            batch = []
        batch.append(image)
    if batch:
        yield torch.stack(batch)
