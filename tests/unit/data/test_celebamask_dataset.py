"""CelebAMask-HQ layout: photos + per-part binary masks combined into one colour-coded label map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.data.celebamask import (
    IMAGE_DIR,
    MASK_DIR,
    MASK_PALETTE,
    MASK_PARTS,
    MaskImageDataset,
    colorize,
    label_index_map,
    ratio_split,
    read_split_file,
    scan_layout,
)
from decig.data.images import to_tensor
from decig.data.transforms import TransformConfig
from decig.core.errors import DataError

NONE = TransformConfig("none", flip=False)
SKIN, NOSE, HAIR = (1 + MASK_PARTS.index(p) for p in ("skin", "nose", "hair"))


def _colours(t: torch.Tensor) -> set[tuple[int, ...]]:
    pixels = ((t.permute(1, 2, 0) + 1.0) * 127.5).round().to(torch.int64).reshape(-1, 3)
    return {tuple(p) for p in pixels.tolist()}


def _is_colour(t: torch.Tensor, colour: tuple[int, int, int]) -> torch.Tensor:
    """``[H, W]`` mask of the pixels of image tensor ``t`` that have exactly ``colour``."""
    pixels = ((t.permute(1, 2, 0) + 1.0) * 127.5).round().to(torch.int64)
    return (pixels == torch.tensor(colour)).all(dim=-1)


def test_palette_has_one_distinct_colour_per_label():
    assert len(MASK_PARTS) == 18 and len(MASK_PALETTE) == 19 and MASK_PALETTE[0] == (0, 0, 0)
    assert len(set(MASK_PALETTE)) == 19


def test_docstring_table_matches_palette():
    import re

    import decig.data.celebamask as module

    assert module.__doc__ is not None
    rows = re.findall(r"(\d+)\s+(\w+\.?)\s+\((\d+), (\d+), (\d+)\)", module.__doc__)
    table = {int(i): (name, (int(r), int(g), int(b))) for i, name, r, g, b in rows}
    assert sorted(table) == list(range(19))
    for label, (name, colour) in table.items():
        assert colour == MASK_PALETTE[label]
        if label:
            assert name == MASK_PARTS[label - 1]


def test_scan_pairs_images_with_masks_across_folders(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1, 2001))
    records = scan_layout(tmp_path)
    assert sorted(records) == [0, 1, 2001]
    assert records[2001].image == tmp_path / IMAGE_DIR / "2001.jpg"
    assert records[2001].masks["hair"] == tmp_path / MASK_DIR / "1" / "02001_hair.png"
    assert records[2001].masks_pattern == str(tmp_path / MASK_DIR / "1" / "02001_*.png")


def test_label_map_paints_parts_in_order(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,), mask_size=32)
    index = label_index_map(scan_layout(tmp_path)[0])
    assert index.shape == (32, 32) and index.dtype == np.uint8
    assert index[4, 4] == HAIR  # hair only
    assert index[10, 10] == HAIR  # hair painted over skin
    assert index[20, 10] == SKIN
    assert index[16, 15] == NOSE
    assert index[30, 30] == 0
    assert np.array_equal(np.asarray(colorize(index))[20, 10], MASK_PALETTE[SKIN])


def test_mask_threshold_ignores_faint_edges(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,), parts=("skin",))
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[0:4, 0:4] = 127  # resampling halo: not part of the mask
    mask[10:12, 10:12] = 128
    Image.fromarray(mask).save(tmp_path / MASK_DIR / "0" / "00000_skin.png")
    index = label_index_map(scan_layout(tmp_path)[0])
    assert index[2, 2] == 0 and index[10, 10] == SKIN


def test_samples_label_map_and_photo_at_photo_size(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1), image_size=64, mask_size=32, image_ext=".png")
    ds = MaskImageDataset.from_root(tmp_path, "all", transform=NONE)
    s = ds[0]
    assert set(s) == {"A", "B", "A_path", "B_path"}
    assert s["A"].shape == s["B"].shape == (3, 64, 64)
    assert s["B_path"] == str(tmp_path / IMAGE_DIR / "0.png") and s["A_path"].endswith("00000_*.png")
    assert torch.equal(s["B"], to_tensor(Image.open(tmp_path / IMAGE_DIR / "0.png")))
    # Mask pixel (y, x) covers photo pixels (2y..2y+1, 2x..2x+1).
    expected = np.asarray(colorize(label_index_map(ds.records[0]))).repeat(2, axis=0).repeat(2, axis=1)
    assert torch.equal(s["A"], to_tensor(Image.fromarray(expected)))
    assert _colours(s["A"]) == {MASK_PALETTE[i] for i in (0, SKIN, NOSE, HAIR)}


def test_btoa_gives_photo_to_label_map(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,), image_ext=".png")
    a_to_b = MaskImageDataset.from_root(tmp_path, "all", transform=NONE)[0]
    b_to_a = MaskImageDataset.from_root(tmp_path, "all", transform=NONE, direction="BtoA")[0]
    assert torch.equal(a_to_b["A"], b_to_a["B"]) and torch.equal(a_to_b["B"], b_to_a["A"])
    assert (a_to_b["A_path"], a_to_b["B_path"]) == (b_to_a["B_path"], b_to_a["A_path"])
    with pytest.raises(DataError, match=r"direction must be one of AtoB, BtoA"):
        MaskImageDataset.from_root(tmp_path, "all", direction="atob")


def test_crop_flip_keeps_labels_on_the_photo_and_is_seeded(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1, 2, 3), image_size=64, mask_size=32, image_ext=".png")
    cfg = TransformConfig("resize_and_crop", load_size=72, crop_size=64)
    ds = MaskImageDataset.from_root(tmp_path, "all", transform=cfg, seed=1)
    for i in range(4):
        s = ds[i]
        assert _colours(s["A"]) <= set(MASK_PALETTE)  # nearest neighbour: no blended colours
        hair = _is_colour(s["A"], MASK_PALETTE[HAIR])
        # Photo green = row position: hair (top half of the mask) sits on the top half of the photo.
        assert float(s["B"][1][hair].max()) < 0.1 and float(s["B"][1][~hair].max()) > 0.5
    again = MaskImageDataset.from_root(tmp_path, "all", transform=cfg, seed=1)
    assert all(torch.equal(ds[i]["A"], again[i]["A"]) and torch.equal(ds[i]["B"], again[i]["B"]) for i in range(4))
    before = [ds[i]["B"] for i in range(4)]
    ds.set_epoch(1)
    assert any(not torch.equal(before[i], ds[i]["B"]) for i in range(4))


def test_real_resolution_ratio_1024_photo_512_masks(tmp_path: Path, celebamask_writer):
    """The real files: 1024x1024 JPEG photos, 512x512 masks; pix2pix's default 286 -> 256 crop."""
    celebamask_writer(tmp_path, ids=(7,), image_size=1024, mask_size=512)
    ds = MaskImageDataset.from_root(tmp_path, "all", divisible_by=256)
    assert ds.summary()["input_sizes"] == {"1024x1024": 1} and ds.summary()["output_sizes"] == {"256x256": 1}
    s = ds[0]
    assert s["A"].shape == s["B"].shape == (3, 256, 256)
    assert _colours(s["A"]) <= set(MASK_PALETTE)
    hair = _is_colour(s["A"], MASK_PALETTE[HAIR])
    assert hair.any() and (~hair).any()
    # JPEG and bicubic blur the boundary; away from it, hair pixels show the top half of the photo.
    assert float((s["B"][1][hair] < 0.05).float().mean()) > 0.97


def test_ratio_split_is_deterministic_disjoint_and_complete():
    ids = list(range(50))
    parts = {s: ratio_split(ids, s, (0.8, 0.1, 0.1), seed=0) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [40, 5, 5]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == ids
    assert parts["val"] == ratio_split(list(reversed(ids)), "val", (0.8, 0.1, 0.1), seed=0)
    assert parts["val"] != ratio_split(ids, "val", (0.8, 0.1, 0.1), seed=1)


@pytest.mark.parametrize(
    ("split", "ratios", "message"),
    [
        ("valid", (0.8, 0.1, 0.1), r"split must be one of train, val, test or 'all', got 'valid'"),
        ("train", (0.8, 0.1), r"split ratios must be three non-negative numbers .* got \(0.8, 0.1\)"),
        ("train", (0.8, 0.3, -0.1), r"split ratios must be three non-negative numbers"),
        ("val", (0.8, 0.1, 0.1), r"split 'val' is empty: 4 ids with ratios \(0.8, 0.1, 0.1\)"),
    ],
)
def test_ratio_split_errors(split, ratios, message):
    with pytest.raises(DataError, match=message):
        ratio_split([0, 1, 2, 3], split, ratios, seed=0)


def test_split_file(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1, 2, 3))
    split = tmp_path / "val.txt"
    split.write_text("# held-out faces\n3\n\n1  # glasses\n")
    assert read_split_file(split) == [3, 1]
    ds = MaskImageDataset.from_root(tmp_path, "val", split_file=split, transform=NONE)
    assert [r.id for r in ds.records] == [3, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\nfoo\n", r"split file .*split\.txt, line 2: expected an integer id, got 'foo'"),
        ("1\n2\n1\n", r"split file .*split\.txt lists some ids more than once"),
        ("# nothing\n", r"split file .*split\.txt lists no ids"),
        ("1\n99\n", r"split file .*split\.txt lists 1 ids not in .*, first: 99"),
    ],
)
def test_split_file_errors(tmp_path: Path, celebamask_writer, text, message):
    celebamask_writer(tmp_path, ids=(0, 1, 2))
    (tmp_path / "split.txt").write_text(text)
    with pytest.raises(DataError, match=message):
        MaskImageDataset.from_root(tmp_path, "val", split_file=tmp_path / "split.txt")


def test_missing_split_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"split file .*nope\.txt does not exist"):
        read_split_file(tmp_path / "nope.txt")


def test_ratio_split_via_from_root(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=range(10))
    sizes = {s: len(MaskImageDataset.from_root(tmp_path, s, transform=NONE)) for s in ("train", "val", "test")}
    assert sizes == {"train": 8, "val": 1, "test": 1}


# ---- bad input: every message names the file and the reason ----


def test_image_without_masks_is_named(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1))
    celebamask_writer(tmp_path / "other", ids=(5,))
    (tmp_path / "other" / IMAGE_DIR / "5.jpg").rename(tmp_path / IMAGE_DIR / "5.jpg")
    with pytest.raises(
        DataError,
        match=r"id 5 has an image \(.*CelebA-HQ-img/5\.jpg\) but no part masks in .*CelebAMask-HQ-mask-anno/0 "
        r"\(e\.g\. 00005_skin\.png\)",
    ):
        scan_layout(tmp_path)


def test_masks_without_image_is_a_count_mismatch(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1, 2))
    (tmp_path / IMAGE_DIR / "1.jpg").unlink()
    with pytest.raises(
        DataError,
        match=r"mismatched counts: 2 images in .*CelebA-HQ-img but part masks for 3 ids in .*; 1 ids have masks "
        r"but no image, first: id 1 \(.*00001_\w+\.png\)",
    ):
        scan_layout(tmp_path)


def test_mask_in_wrong_folder_is_named(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 2001))
    (tmp_path / MASK_DIR / "1" / "02001_skin.png").rename(tmp_path / MASK_DIR / "0" / "02001_skin.png")
    with pytest.raises(DataError, match=r"mask .*0/02001_skin\.png is in folder 0 but id 2001 belongs in folder 1"):
        scan_layout(tmp_path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("00000_mouse.png", r"unexpected mask name .*00000_mouse\.png; expected <id:05d>_<part>\.png"),
        ("skin.png", r"unexpected mask name .*skin\.png"),
    ],
)
def test_bad_mask_name_is_named(tmp_path: Path, celebamask_writer, name, message):
    celebamask_writer(tmp_path, ids=(0,))
    (tmp_path / MASK_DIR / "0" / "00000_skin.png").rename(tmp_path / MASK_DIR / "0" / name)
    with pytest.raises(DataError, match=message):
        scan_layout(tmp_path)


def test_bad_image_and_folder_names(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,))
    (tmp_path / IMAGE_DIR / "face.jpg").write_bytes((tmp_path / IMAGE_DIR / "0.jpg").read_bytes())
    with pytest.raises(DataError, match=r"unexpected image name .*face\.jpg; CelebA-HQ photos are named <id>\.jpg"):
        scan_layout(tmp_path)
    (tmp_path / IMAGE_DIR / "face.jpg").unlink()
    (tmp_path / MASK_DIR / "extra").mkdir()
    with pytest.raises(DataError, match=r"unexpected folder .*extra; mask folders are numbered"):
        scan_layout(tmp_path)


def test_missing_or_empty_directories(tmp_path: Path, celebamask_writer):
    with pytest.raises(DataError, match=r"directory .*CelebA-HQ-img not found"):
        scan_layout(tmp_path)
    (tmp_path / IMAGE_DIR).mkdir()
    with pytest.raises(DataError, match=r"directory .*CelebA-HQ-img contains no images"):
        scan_layout(tmp_path)
    celebamask_writer(tmp_path, ids=(0,))
    for path in sorted((tmp_path / MASK_DIR).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / MASK_DIR).rmdir()
    with pytest.raises(DataError, match=r"directory .*CelebAMask-HQ-mask-anno not found"):
        scan_layout(tmp_path)


def test_mask_sizes_differ_names_both_files(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,))
    Image.new("L", (16, 16)).save(tmp_path / MASK_DIR / "0" / "00000_nose.png")
    with pytest.raises(
        DataError,
        match=r"mask .*00000_nose\.png is 16x16 but mask .*00000_\w+\.png of the same id 0 is 32x32",
    ):
        MaskImageDataset.from_root(tmp_path, "all")
    records = scan_layout(tmp_path)
    with pytest.raises(DataError, match=r"mask .*00000_nose\.png is 16x16 but mask .*00000_skin\.png"):
        label_index_map(records[0])


def test_aspect_ratio_mismatch_is_named(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,))
    Image.new("RGB", (64, 48)).save(tmp_path / IMAGE_DIR / "0.jpg")
    with pytest.raises(
        DataError, match=r"masks of id 0 are 32x32 but image .*CelebA-HQ-img/0\.jpg is 64x48: aspect ratios differ"
    ):
        MaskImageDataset.from_root(tmp_path, "all")


def test_truncated_mask_and_photo_are_named(tmp_path: Path, celebamask_writer, truncate_file):
    celebamask_writer(tmp_path, ids=(0, 1), image_size=128, mask_size=64)
    noisy = np.random.default_rng(0).integers(0, 2, (64, 64), dtype=np.uint8) * 255
    Image.fromarray(noisy).save(tmp_path / MASK_DIR / "0" / "00001_hair.png")
    truncate_file(tmp_path / MASK_DIR / "0" / "00001_hair.png")
    with pytest.raises(DataError, match=r"image .*00001_hair\.png is truncated or corrupt"):
        MaskImageDataset.from_root(tmp_path, "all")
    Image.fromarray(noisy).save(tmp_path / MASK_DIR / "0" / "00001_hair.png")
    truncate_file(tmp_path / IMAGE_DIR / "0.jpg")
    with pytest.raises(DataError, match=r"image .*CelebA-HQ-img/0\.jpg is truncated or corrupt"):
        MaskImageDataset.from_root(tmp_path, "all")


def test_divisible_by_names_the_photo(tmp_path: Path, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0,), image_size=96, mask_size=48)
    with pytest.raises(DataError, match=r"image .*CelebA-HQ-img/0\.jpg is 96x96 after preprocessing \(none\); .*unet_64"):
        MaskImageDataset.from_root(tmp_path, "all", transform=NONE, divisible_by=64)
    assert len(MaskImageDataset.from_root(tmp_path, "all", transform=NONE, divisible_by=32)) == 1
    with pytest.raises(DataError, match=r"CelebAMask-HQ dataset has no ids"):
        MaskImageDataset([])
