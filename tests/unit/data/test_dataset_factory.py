"""``load_dataset``: format names as configs spell them, options checked against each format."""

from __future__ import annotations

from pathlib import Path

import pytest

from decig.data.aligned import AlignedDataset
from decig.data.celebamask import MaskImageDataset
from decig.data.factory import FORMATS, load_dataset
from decig.data.transforms import TransformConfig
from decig.data.unaligned import UnalignedDataset
from decig.core.errors import DataError

NONE = TransformConfig("none", flip=False)


def test_formats():
    assert FORMATS == ("aligned", "unaligned", "celebamask-hq")


def test_each_format_loads_with_shared_options(tmp_path: Path, aligned_writer, unaligned_writer, celebamask_writer):
    aligned_writer(tmp_path / "facades", "val", n=2)
    unaligned_writer(tmp_path / "horse2zebra", "test", n_a=2, n_b=3)
    celebamask_writer(tmp_path / "celeba", ids=range(10))
    # The options every training config passes, whatever the format.
    common = {"direction": "BtoA", "transform": NONE, "seed": 3, "divisible_by": 16}
    aligned = load_dataset("aligned", tmp_path / "facades", "val", **common)
    unaligned = load_dataset("unaligned", tmp_path / "horse2zebra", "test", serial_batches=True, **common)
    faces = load_dataset("celebamask-hq", tmp_path / "celeba", "train", ratios=(0.5, 0.3, 0.2), **common)
    assert isinstance(aligned, AlignedDataset) and len(aligned) == 2 and aligned.direction == "BtoA"
    assert isinstance(unaligned, UnalignedDataset) and len(unaligned) == 3 and unaligned.seed == 3
    assert isinstance(faces, MaskImageDataset) and len(faces) == 5 and faces.direction == "BtoA"


def test_unknown_format():
    with pytest.raises(DataError, match=r"unknown dataset format 'mask_image'; choose one of aligned, unaligned, celebamask-hq"):
        load_dataset("mask_image", "data")


def test_unknown_option_lists_accepted_ones(tmp_path: Path, aligned_writer):
    aligned_writer(tmp_path, "train", n=1)
    with pytest.raises(
        DataError,
        match=r"dataset format 'aligned' does not take \['serial_batches'\]; it takes \['direction', 'divisible_by', "
        r"'full_decode', 'seed', 'transform'\]",
    ):
        load_dataset("aligned", tmp_path, serial_batches=True)
    with pytest.raises(DataError, match=r"dataset format 'celebamask-hq' does not take \['crop_size'\]; it takes .*'split_file'"):
        load_dataset("celebamask-hq", tmp_path, crop_size=256)
