"""CycleGAN unaligned layout: ROOT/{trainA,trainB,testA,testB}, unpaired, counts may differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.data.transforms import TransformConfig
from decig.data.unaligned import UnalignedDataset
from decig.core.errors import DataError

NONE = TransformConfig("none", flip=False)
CROP = TransformConfig("crop", load_size=64, crop_size=16)


def _value(t: torch.Tensor) -> int:
    """The flat colour an image was written with (writer: A = 10 i, B = 100 + 10 i)."""
    return round((float(t.mean()) + 1.0) * 127.5)


def test_samples_and_length(tmp_path: Path, unaligned_writer):
    paths_a, paths_b = unaligned_writer(tmp_path, "train", n_a=3, n_b=2, size=(48, 32))
    ds = UnalignedDataset.from_root(tmp_path, "train", transform=NONE)
    assert len(ds) == 3  # max(len(A), len(B)), as in CycleGAN
    for i in range(3):
        s = ds[i]
        assert set(s) == {"A", "B", "A_path", "B_path"}
        assert s["A_path"] == str(paths_a[i]) and _value(s["A"]) == 10 * i
        assert s["B_path"] in {str(p) for p in paths_b}
        assert _value(s["B"]) == 100 + 10 * [str(p) for p in paths_b].index(s["B_path"])
        assert s["A"].shape == s["B"].shape == (3, 32, 48)
        assert -1.0 <= s["A"].min() and s["B"].max() <= 1.0


def test_serial_batches_pairs_by_index(tmp_path: Path, unaligned_writer):
    _, paths_b = unaligned_writer(tmp_path, "test", n_a=2, n_b=5)
    ds = UnalignedDataset.from_root(tmp_path, "test", transform=NONE, serial_batches=True)
    assert len(ds) == 5
    assert [ds[i]["B_path"] for i in range(5)] == [str(p) for p in paths_b]
    assert [ds[i]["A_path"] for i in range(5)] == [ds[i % 2]["A_path"] for i in range(5)]


def test_btoa_swaps_domains(tmp_path: Path, unaligned_writer):
    paths_a, paths_b = unaligned_writer(tmp_path, "train", n_a=3, n_b=2)
    ds = UnalignedDataset.from_root(tmp_path, "train", transform=NONE, direction="BtoA", serial_batches=True)
    assert ds[0]["A_path"] == str(paths_b[0]) and ds[0]["B_path"] == str(paths_a[0])
    assert _value(ds[1]["A"]) == 110


def test_pairing_and_crops_reproducible_and_change_per_epoch(tmp_path: Path, unaligned_writer):
    unaligned_writer(tmp_path, "train", n_a=8, n_b=8, size=(64, 64))
    ds = UnalignedDataset.from_root(tmp_path, "train", transform=CROP, seed=2)
    again = UnalignedDataset.from_root(tmp_path, "train", transform=CROP, seed=2)
    epoch0 = [ds[i]["B_path"] for i in range(8)]
    assert epoch0 == [again[i]["B_path"] for i in range(8)]
    ds.set_epoch(1)
    assert [ds[i]["B_path"] for i in range(8)] != epoch0  # pairs change between epochs
    ds.set_epoch(0)
    assert [ds[i]["B_path"] for i in range(8)] == epoch0  # ...and come back for the same epoch


def test_a_and_b_crops_are_independent_but_seeded(tmp_path: Path):
    # Identical gradient images in A and B: with independent draws the crops differ for some index.
    y, x = np.mgrid[0:64, 0:64]
    grad = np.stack([x * 4, y * 4, x * 0], axis=-1).astype(np.uint8)
    for d in "AB":
        (tmp_path / f"train{d}").mkdir()
        Image.fromarray(grad).save(tmp_path / f"train{d}" / "g.png")
    ds = UnalignedDataset.from_root(tmp_path, "train", transform=CROP)
    samples = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        samples.append(ds[0])
    assert any(not torch.equal(s["A"], s["B"]) for s in samples)
    ds.set_epoch(3)
    assert torch.equal(ds[0]["A"], samples[3]["A"]) and torch.equal(ds[0]["B"], samples[3]["B"])


def test_missing_domain_folder_is_named(tmp_path: Path, unaligned_writer):
    unaligned_writer(tmp_path, "train", n_a=2, n_b=2)
    for path in (tmp_path / "trainB").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"directory .*trainB contains no images .*expected layout: ROOT/\{trainA,trainB"):
        UnalignedDataset.from_root(tmp_path, "train")
    with pytest.raises(DataError, match=r"directory .*testA not found"):
        UnalignedDataset.from_root(tmp_path, "test")
    with pytest.raises(DataError, match=r"needs at least one image in each of A and B"):
        UnalignedDataset([tmp_path / "trainA" / "a00.png"], [])


def test_truncated_b_image_is_named(tmp_path: Path, unaligned_writer, truncate_file):
    unaligned_writer(tmp_path, "train", n_a=2, n_b=2)
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "trainB" / "noisy.jpg")
    truncate_file(tmp_path / "trainB" / "noisy.jpg")
    with pytest.raises(DataError, match=r"image .*trainB/noisy\.jpg is truncated or corrupt"):
        UnalignedDataset.from_root(tmp_path, "train")


def test_divisible_by_names_the_offending_file(tmp_path: Path, unaligned_writer):
    unaligned_writer(tmp_path, "train", n_a=1, n_b=1, size=(64, 48))
    with pytest.raises(DataError, match=r"image .*trainA/a00\.png is 64x48 after preprocessing \(none\); .*divisible by 32"):
        UnalignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=32)
    ds = UnalignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=16)
    assert ds.summary()["output_sizes"] == {"64x48": 2}
