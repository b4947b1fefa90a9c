"""``decig data demo|check|md5``: output on success, one readable line and exit 2 on bad data."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from decig.cli import build_parser, main
from decig.data.demo import DEFAULT_COUNTS, DEFAULT_SIZE, generate_demo_dataset
from decig.data.factory import FORMATS
from decig.data.lineage import dvc_dir_md5
from decig.data.transforms import PREPROCESS_MODES, TransformConfig


def _subparser(*names: str):
    parser = build_parser()
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def test_cli_choices_and_defaults_follow_the_library():
    check = _subparser("data", "check")
    choices = {a.dest: a.choices for a in check._actions if a.choices}
    assert tuple(choices["format"]) == FORMATS and tuple(choices["preprocess"]) == PREPROCESS_MODES
    defaults = TransformConfig()
    assert (check.get_default("preprocess"), check.get_default("load_size"), check.get_default("crop_size")) == (
        defaults.preprocess, defaults.load_size, defaults.crop_size,
    )  # fmt: skip
    demo = _subparser("data", "demo")
    assert {s: demo.get_default(f"n_{s}") for s in DEFAULT_COUNTS} == DEFAULT_COUNTS
    assert demo.get_default("size") == DEFAULT_SIZE
    signature = inspect.signature(generate_demo_dataset).parameters
    assert demo.get_default("seed") == signature["seed"].default
    assert demo.get_default("out") == "data"  # the folder data.dvc tracks


def test_demo_check_md5_round_trip(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    assert main(["data", "demo", "--out", str(out), "--n-train", "2", "--n-val", "1", "--n-test", "0", "--size", "32"]) == 0
    printed = capsys.readouterr().out
    md5 = dvc_dir_md5(out)
    assert f"demo dataset: {out}" in printed and f"dvc md5: {md5}" in printed

    assert main(["data", "check", "aligned", str(out), "--preprocess", "none", "--divisible-by", "32"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "format": "AlignedDataset",
        "samples": 2,
        "input_sizes": {"32x32": 2},
        "output_sizes": {"32x32": 2},
        "preprocess": "none",
    }
    # Sizes apply without --preprocess too (the default mode is resize_and_crop).
    assert main(["data", "check", "aligned", str(out), "--load-size", "40", "--crop-size", "32"]) == 0
    assert json.loads(capsys.readouterr().out)["output_sizes"] == {"32x32": 2}

    assert main(["data", "md5", str(out)]) == 0
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert capsys.readouterr().out.strip() == f"{md5}  {out}  (4 files, {total} bytes)"


def test_bad_data_is_one_line_and_exit_2(tmp_path: Path, capsys, aligned_writer):
    aligned_writer(tmp_path, "train", n=2, width=65, height=32)
    assert main(["data", "check", "aligned", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("decig: error: image ") and "000.png has odd width 65" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_divisible_by_and_split_file_through_the_cli(tmp_path: Path, capsys, celebamask_writer):
    celebamask_writer(tmp_path, ids=(0, 1, 2), image_size=96, mask_size=48)
    (tmp_path / "val.txt").write_text("2\n")
    args = ["data", "check", "celebamask-hq", str(tmp_path), "--split-file", str(tmp_path / "val.txt")]
    assert main([*args, "--preprocess", "none", "--divisible-by", "32"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 1
    assert main([*args, "--preprocess", "none", "--divisible-by", "64"]) == 2
    assert "CelebA-HQ-img/2.jpg is 96x96 after preprocessing (none)" in capsys.readouterr().err
    assert main(["data", "check", "aligned", str(tmp_path), "--split-file", "x.txt"]) == 2
    assert "dataset format 'aligned' does not take ['split_file']" in capsys.readouterr().err


def test_demo_refuses_non_empty_out(tmp_path: Path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["data", "demo", "--out", str(tmp_path), "--n-train", "1", "--size", "32"]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err


def test_md5_of_missing_folder(tmp_path: Path, capsys):
    assert main(["data", "md5", str(tmp_path / "nothere")]) == 2
    assert "nothere does not exist or is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3"])
def test_divisible_by_must_be_positive(value: str, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", "aligned", "root", "--divisible-by", value])
    assert exc.value.code == 2 and f"must be a positive integer, got {value}" in capsys.readouterr().err

