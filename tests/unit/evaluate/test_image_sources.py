"""Image sources hand the Inception extractor uint8 RGB batches, quantized like the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.core.errors import EvaluationError
from decig.evaluate.image_sources import folder_batches, tensor_batches, to_uint8_rgb


def test_model_range_maps_like_reference_tensor2im() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0, 0.999, 2.0]).view(1, 1, 1, 5)
    out = to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 1, 5)  # gray repeated to RGB
    # (x + 1) / 2 * 255 truncated: -1 -> 0, 0 -> 127, 1 -> 255; out-of-range clamped.
    assert out[0, 0, 0].tolist() == [0, 127, 255, 254, 255]


def test_other_channel_counts_are_refused() -> None:
    with pytest.raises(EvaluationError, match="2 channels"):
        to_uint8_rgb(torch.zeros(1, 2, 4, 4))
    with pytest.raises(EvaluationError, match="batch, channels"):
        to_uint8_rgb(torch.zeros(3, 4, 4))


def test_tensor_batches_split_a_big_tensor() -> None:
    batches = list(tensor_batches(torch.zeros(5, 3, 8, 8), batch_size=2))
    assert [b.shape[0] for b in batches] == [2, 2, 1]


def test_folder_batches_read_sorted_rgb_and_cut_on_size_change(tmp_path: Path) -> None:
    sizes = {"a.png": (8, 8), "b.jpg": (8, 8), "c.png": (16, 8), "d.png": (16, 8)}
    for name, (w, h) in sizes.items():
        Image.fromarray(np.full((h, w), 200, np.uint8), mode="L").save(tmp_path / name)  # grayscale on disk
    (tmp_path / "notes.txt").write_text("not an image")
    batches = list(folder_batches(tmp_path, batch_size=16))
    assert [tuple(b.shape) for b in batches] == [(2, 3, 8, 8), (2, 3, 8, 16)]
    assert all(b.dtype == torch.uint8 for b in batches)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="does not exist"):
        list(folder_batches(tmp_path / "nope"))
    with pytest.raises(EvaluationError, match="holds no images"):
        list(folder_batches(tmp_path))
