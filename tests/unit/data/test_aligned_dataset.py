"""pix2pix aligned layout: ROOT/{train,val,test}/*.png with A|B side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from decig.data.aligned import AlignedDataset
from decig.data.images import read_image_uint8, to_tensor
from decig.data.transforms import TransformConfig
from decig.core.errors import DataError

CROP = TransformConfig("crop", load_size=32, crop_size=16)  # no resize: pixels stay exact
NONE = TransformConfig("none", flip=False)


def test_samples_are_the_two_halves(tmp_path: Path, aligned_writer):
    paths = aligned_writer(tmp_path, "train", n=3, width=64, height=32)
    ds = AlignedDataset.from_root(tmp_path, "train", transform=NONE)
    assert len(ds) == 3
    sample = ds[1]
    assert set(sample) == {"A", "B", "A_path", "B_path"}
    assert sample["A_path"] == sample["B_path"] == str(paths[1])
    ab = read_image_uint8(paths[1])
    assert torch.equal(sample["A"], to_tensor(Image.fromarray(ab[:, :32])))
    assert torch.equal(sample["B"], to_tensor(Image.fromarray(ab[:, 32:])))
    for key in ("A", "B"):
        assert sample[key].shape == (3, 32, 32) and sample[key].dtype == torch.float32
        assert -1.0 <= sample[key].min() and sample[key].max() <= 1.0


def test_btoa_swaps_the_halves(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "val", n=2)
    a_to_b = AlignedDataset.from_root(tmp_path, "val", transform=NONE)[0]
    b_to_a = AlignedDataset.from_root(tmp_path, "val", transform=NONE, direction="BtoA")[0]
    assert torch.equal(a_to_b["A"], b_to_a["B"]) and torch.equal(a_to_b["B"], b_to_a["A"])


def test_default_transform_gives_crop_size_tensors(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "test", n=2, width=64, height=32)
    ds = AlignedDataset.from_root(tmp_path, "test", transform=TransformConfig("resize_and_crop", 40, 32))
    assert ds[0]["A"].shape == ds[0]["B"].shape == (3, 32, 32)
    assert ds.summary() == {
        "format": "AlignedDataset",
        "samples": 2,
        "input_sizes": {"32x32": 2},
        "output_sizes": {"32x32": 2},
        "preprocess": "resize_and_crop",
    }


def test_a_and_b_share_one_crop_and_flip(tmp_path: Path, aligned_writer):
    # B = 255 - A pixel for pixel, so after any shared crop/flip B's tensor is exactly -A's.
    aligned_writer(tmp_path, "train", n=4, width=64, height=32)
    ds = AlignedDataset.from_root(tmp_path, "train", transform=CROP)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            assert torch.allclose(s["B"], -s["A"], atol=1e-6)


def test_same_seed_epoch_index_same_sample_and_epochs_differ(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=4, width=128, height=64)
    first = AlignedDataset.from_root(tmp_path, "train", transform=CROP, seed=3)
    second = AlignedDataset.from_root(tmp_path, "train", transform=CROP, seed=3)
    epoch0 = [first[i]["A"] for i in range(4)]
    assert all(torch.equal(x, second[i]["A"]) for i, x in enumerate(epoch0))
    # Reading in another order or twice changes nothing: no hidden RNG state.
    assert all(torch.equal(x, first[i]["A"]) for i, x in reversed(list(enumerate(epoch0))))
    first.set_epoch(1)
    assert any(not torch.equal(x, first[i]["A"]) for i, x in enumerate(epoch0))
    other_seed = AlignedDataset.from_root(tmp_path, "train", transform=CROP, seed=4)
    assert any(not torch.equal(x, other_seed[i]["A"]) for i, x in enumerate(epoch0))


def test_dataloader_workers_give_the_same_samples(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=4, width=128, height=64)
    ds = AlignedDataset.from_root(tmp_path, "train", transform=CROP, seed=1)
    ds.set_epoch(2)
    direct = torch.stack([ds[i]["A"] for i in range(4)])
    loaded = torch.cat([b["A"] for b in DataLoader(ds, batch_size=2, num_workers=2)])
    assert torch.equal(direct, loaded)


def test_divisible_by_accepts_and_rejects(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=2, width=96, height=48)
    assert len(AlignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=16)) == 2
    with pytest.raises(
        DataError,
        match=r"image .*000\.png is 48x48 after preprocessing \(none\); a U-Net with 5 downsamplings \(unet_32\) "
        r"needs sizes divisible by 32",
    ):
        AlignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=32)
    with pytest.raises(DataError, match=r"the network needs sizes divisible by 5"):
        AlignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=5)
    with pytest.raises(DataError, match=r"divisible_by must be a positive integer, got 0"):
        AlignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=0)


def test_odd_width_is_named(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=2, width=65, height=32)
    with pytest.raises(DataError, match=r"image .*000\.png has odd width 65; an aligned A\|B image must be two equal halves"):
        AlignedDataset.from_root(tmp_path, "train")


def test_empty_split_is_named(tmp_path: Path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "README.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"directory .*train contains no images .* expected layout: ROOT/\{train,val,test\}"):
        AlignedDataset.from_root(tmp_path, "train")


def test_missing_split_is_named(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=1)
    with pytest.raises(DataError, match=r"directory .*val not found; expected layout"):
        AlignedDataset.from_root(tmp_path, "val")
    with pytest.raises(DataError, match=r"aligned dataset has no images"):
        AlignedDataset([])


def test_truncated_image_fails_at_construction(tmp_path: Path, aligned_writer, truncate_file):
    paths = aligned_writer(tmp_path, "train", n=3, width=128, height=64)
    truncate_file(paths[2])
    with pytest.raises(DataError, match=r"image .*002\.png is truncated or corrupt"):
        AlignedDataset.from_root(tmp_path, "train")
    # Header-only scan (full_decode=False) accepts it; reading the sample still names the file.
    ds = AlignedDataset.from_root(tmp_path, "train", transform=NONE, full_decode=False)
    with pytest.raises(DataError, match=r"002\.png is truncated or corrupt"):
        ds[2]


def test_unreadable_image_is_named(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=2)
    (tmp_path / "train" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match=r"image .*broken\.jpg cannot be read"):
        AlignedDataset.from_root(tmp_path, "train")


def test_image_smaller_than_crop_is_named(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=1, width=64, height=32)
    with pytest.raises(DataError, match=r"image .*000\.png is 32x32 after resizing \(crop\), smaller than crop_size 48"):
        AlignedDataset.from_root(tmp_path, "train", transform=TransformConfig("crop", 64, 48))


def test_bad_direction(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=1)
    with pytest.raises(DataError, match=r"direction must be one of AtoB, BtoA, got 'AB'"):
        AlignedDataset.from_root(tmp_path, "train", direction="AB")


def test_non_square_pairs_keep_their_shape(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=1, width=96, height=32)
    s = AlignedDataset.from_root(tmp_path, "train", transform=NONE, divisible_by=16)[0]
    assert s["A"].shape == s["B"].shape == (3, 32, 48)
    assert np.isclose(float(s["A"].mean()), float(-s["B"].mean()), atol=1e-5)
