"""The built-in demo dataset: byte-identical regeneration, safe output handling, a truthful card."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from decig.data.aligned import AlignedDataset
from decig.data.demo import DEFAULT_COUNTS, _dataset_card, _pair_pixels, generate_demo_dataset
from decig.data.demo_scene import CLASSES, PALETTE, render_scene
from decig.data.images import read_image_uint8
from decig.data.png import encode_png
from decig.data.transforms import TransformConfig
from decig.core.errors import DataError

SMALL = {"n_train": 3, "n_val": 1, "n_test": 1}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_generations_are_byte_identical(tmp_path: Path):
    first = generate_demo_dataset(tmp_path / "a", **SMALL, size=64)
    second = generate_demo_dataset(tmp_path / "b", **SMALL, size=64)
    files = _files(first)
    assert sorted(files) == [
        "DATASET.md", "test/00000.png", "train/00000.png", "train/00001.png", "train/00002.png", "val/00000.png",
    ]  # fmt: skip
    assert files == _files(second)
    assert not list(first.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("split", "index", "md5"),
    [
        ("train", 0, "32755e35712103160f35d42cb4d35644"),
        ("train", 7, "10ef05057ca653bfebfcf70c73fac724"),
        ("val", 0, "8257b8997c4731998a119226030e76ba"),
        ("test", 39, "2d8a48877361bee748fc8b1ce5ac63a0"),
    ],
)
def test_default_images_match_the_dvc_pinned_dataset(split: str, index: int, md5: str):
    # Files of the dataset pinned in data.dvc (seed 0, 128 px): the fast guard for the slow full check.
    assert hashlib.md5(encode_png(_pair_pixels(0, split, index, 128))).hexdigest() == md5


def test_splits_are_independent_streams(tmp_path: Path):
    # Adding train images must not change val/test images.
    small = generate_demo_dataset(tmp_path / "a", n_train=1, n_val=1, n_test=1, size=32)
    large = generate_demo_dataset(tmp_path / "b", n_train=3, n_val=1, n_test=1, size=32)
    assert (small / "val/00000.png").read_bytes() == (large / "val/00000.png").read_bytes()
    assert (small / "train/00000.png").read_bytes() == (large / "train/00000.png").read_bytes()
    other_seed = generate_demo_dataset(tmp_path / "c", n_train=1, n_val=0, n_test=0, size=32, seed=1)
    assert (other_seed / "train/00000.png").read_bytes() != (small / "train/00000.png").read_bytes()


def test_pairs_are_label_map_and_photo_and_load_as_aligned(tmp_path: Path):
    out = generate_demo_dataset(tmp_path / "demo", **SMALL, size=64)
    ab = read_image_uint8(out / "train" / "00001.png")
    assert ab.shape == (64, 128, 3)
    assert {tuple(c) for c in ab[:, :64].reshape(-1, 3)} <= set(PALETTE)  # A: label colours only
    assert len({tuple(c) for c in ab[:, 64:].reshape(-1, 3)}) > 100  # B: a shaded, textured photo
    ds = AlignedDataset.from_root(out, "train", transform=TransformConfig("none", flip=False), divisible_by=64)
    assert len(ds) == 3 and ds[0]["A"].shape == (3, 64, 64)


def test_render_scene_shapes_and_labels():
    labels, photo = render_scene(np.random.default_rng(5), 32)
    assert labels.shape == photo.shape == (32, 32, 3) and labels.dtype == photo.dtype == np.uint8
    assert {tuple(c) for c in labels.reshape(-1, 3)} <= set(PALETTE)
    assert len(CLASSES) == len(PALETTE) == len(set(PALETTE))


def test_dataset_card(tmp_path: Path):
    out = generate_demo_dataset(tmp_path / "demo", n_train=2, n_val=0, n_test=1, size=32, seed=4)
    card = (out / "DATASET.md").read_text()
    assert "- pairs: 3 (train 2, test 1), seed 4" in card and "each 64x32 (A|B)" in card
    assert "`{train,test}/NNNNN.png`" in card
    # The regenerate line reproduces exactly this dataset.
    assert "`decig data demo --out <dir> --seed 4 --size 32 --n-train 2 --n-val 0 --n-test 1`" in card
    for i, (name, colour) in enumerate(zip(CLASSES, PALETTE, strict=True)):
        assert f"| {i} | {name} | {colour} |" in card
    assert not (out / "val").exists()


def test_default_card_is_the_pinned_one():
    # Rendering 400 pairs is the slow test's job: here only the card of the default arguments,
    # whose bytes are part of the md5 in data.dvc.
    card = _dataset_card(dict(DEFAULT_COUNTS), 128, 0)
    assert "`decig data demo --out <dir> --seed 0`" in card and "`{train,val,test}/NNNNN.png`" in card
    assert hashlib.md5(card.encode()).hexdigest() == "5f28167cb0f1ac6e178955cf4e3760fa"
    assert DEFAULT_COUNTS == {"train": 320, "val": 40, "test": 40}


def test_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match=r"data already exists and is not empty; choose another --out or pass --overwrite"):
        generate_demo_dataset(tmp_path / "data", **SMALL, size=32)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mine.jpg"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match=r"afile exists and is not a directory"):
        generate_demo_dataset(tmp_path / "afile", **SMALL, size=32)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (generate_demo_dataset(empty, **SMALL, size=32) / "DATASET.md").is_file()


def test_overwrite_replaces_demo_files_and_drops_stale_ones(tmp_path: Path):
    out = generate_demo_dataset(tmp_path / "demo", n_train=3, n_val=1, n_test=1, size=32)
    (out / "notes.txt").write_text("kept")
    generate_demo_dataset(out, n_train=1, n_val=0, n_test=1, size=32, seed=1, overwrite=True)
    fresh = generate_demo_dataset(tmp_path / "fresh", n_train=1, n_val=0, n_test=1, size=32, seed=1)
    files = _files(out)
    assert files.pop("notes.txt") == b"kept"  # not the generator's: left alone
    assert files == _files(fresh)  # no images of the earlier, larger run remain


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 0, "n_val": 0, "n_test": 0}, r"demo split sizes must be >= 0 and not all zero"),
        ({"n_train": -1}, r"demo split sizes must be >= 0"),
        ({"size": 48}, r"demo image size must be a multiple of 32 and >= 32, got 48"),
        ({"size": 0}, r"demo image size must be a multiple of 32"),
        ({"seed": -1}, r"demo seed must be a non-negative integer, got -1"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs, message):
    with pytest.raises(DataError, match=message):
        generate_demo_dataset(tmp_path / "demo", **kwargs)
    assert not (tmp_path / "demo").exists()
