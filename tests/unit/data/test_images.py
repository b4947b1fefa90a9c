"""Image reading: full decode, clear errors naming the file, and the [-1, 1] tensor convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.data.images import image_size, is_image_file, read_image, read_image_tensor, tensor_to_image, to_tensor
from decig.core.errors import DataError


def _photo(path: Path, w: int = 48, h: int = 40, fmt: str | None = None) -> np.ndarray:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def test_read_image_decodes_rgb_and_grey(tmp_path: Path):
    pixels = _photo(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.mode == "RGB" and img.size == (48, 40)
    assert np.array_equal(np.asarray(img), pixels)
    assert read_image(tmp_path / "p.png", mode="L").mode == "L"
    assert image_size(tmp_path / "p.png") == (48, 40)


def test_rgba_and_palette_images_become_rgb(tmp_path: Path):
    Image.new("RGBA", (8, 6), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    Image.new("P", (8, 6), 3).save(tmp_path / "pal.png")
    assert np.asarray(read_image(tmp_path / "rgba.png"))[0, 0].tolist() == [10, 20, 30]
    assert read_image(tmp_path / "pal.png").mode == "RGB"


def test_to_tensor_range_shape_and_inverse(tmp_path: Path):
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0] = (0, 128, 255)
    t = to_tensor(Image.fromarray(pixels))
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    assert t[:, 0, 0].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1.0, 1.0], abs=1e-6)
    assert t.min() >= -1.0 and t.max() <= 1.0
    photo = _photo(tmp_path / "p.png")
    assert np.array_equal(np.asarray(tensor_to_image(read_image_tensor(tmp_path / "p.png"))), photo)
    # Out-of-range values are clipped, not wrapped.
    assert np.asarray(tensor_to_image(torch.full((3, 1, 1), 5.0))).tolist() == [[[255, 255, 255]]]
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        tensor_to_image(torch.zeros(1, 3, 4, 4))


def test_is_image_file():
    assert is_image_file(Path("a/0.JPG")) and is_image_file(Path("x.png")) and is_image_file(Path("x.webp"))
    assert not is_image_file(Path("notes.txt"))
    assert not is_image_file(Path(".hidden.png"))  # macOS "._x.png" resource forks and the like


def test_missing_file_is_named(tmp_path: Path):
    with pytest.raises(DataError, match=r"nothere\.png does not exist"):
        read_image(tmp_path / "nothere.png")


def test_empty_file_is_named(tmp_path: Path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg is an empty file \(0 bytes\)"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(DataError, match=r"empty\.jpg is an empty file"):
        image_size(tmp_path / "empty.jpg")


def test_unreadable_file_is_named(tmp_path: Path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(DataError, match=r"image .*notes\.png cannot be read"):
        read_image(tmp_path / "notes.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_named(tmp_path: Path, truncate_file, fmt: str):
    path = tmp_path / f"cut.{fmt.lower()}"
    _photo(path, 96, 96, fmt)
    truncate_file(path, 0.6)
    # The header survives, so the size is readable; only a full decode notices.
    assert image_size(path) == (96, 96)
    with pytest.raises(DataError, match=rf"image .*cut\.{fmt.lower()} is truncated or corrupt"):
        read_image(path)


def test_corrupt_data_in_the_middle_is_named(tmp_path: Path):
    path = tmp_path / "garbled.png"
    _photo(path, 64, 64)
    data = bytearray(path.read_bytes())
    data[200:260] = b"\x00" * 60  # breaks the IDAT checksum / deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"garbled\.png (is truncated or corrupt|cannot be read)"):
        read_image(path)
