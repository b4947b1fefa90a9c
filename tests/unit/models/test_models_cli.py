"""`decig models list|info|import` through argparse, handlers called as the main CLI calls them."""

import argparse

import pytest
import torch

from decig.core.errors import CheckpointError, ConfigError
from decig.models import create_model, load_model
from decig.models.cli import register_cli


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="decig")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_list(capsys):
    assert run(["models", "list", "resnet_*"]) == 0
    out = capsys.readouterr().out
    assert "resnet_9blocks" in out and "11,378,179" in out and "unet_256" not in out


def test_info_says_which_macs_are_which(capsys):
    assert run(["models", "info", "unet_256"]) == 0
    out = capsys.readouterr().out
    assert "54,413,955" in out
    assert "MACs (true):       6.05 G" in out
    assert "MACs (convention): 18.14 G" in out and "output resolution" in out


def test_info_per_layer_with_overrides(capsys):
    assert (
        run(["models", "info", "resnet_6blocks", "--ngf", "8", "--norm", "batch", "--input-size", "64", "--per-layer"])
        == 0
    )
    out = capsys.readouterr().out
    assert "ngf=8, norm=batch" in out and "3x64x64" in out
    assert "model.23" in out and "no (output)" in out and "ConvTranspose2d" in out


def test_import_writes_a_loadable_model_dir(tmp_path, capsys):
    reference = create_model("resnet_6blocks", ngf=4).eval()
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, tmp_path / "latest_net_G_A.pth")
    out_dir = tmp_path / "imported"
    assert (
        run(
            [
                "models",
                "import",
                str(tmp_path / "latest_net_G_A.pth"),
                "--arch",
                "resnet_6blocks",
                "--ngf",
                "4",
                "--out",
                str(out_dir),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "imported" in printed and "sha256" in printed and "manifest.json" in printed
    model, manifest = load_model(out_dir)
    assert manifest.ngf == 4 and manifest.norm == "instance"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference(x))


def test_user_errors_are_decig_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown model"):
        run(["models", "info", "unet_1024"])
    with pytest.raises(CheckpointError, match="nope.pth not found"):
        run(["models", "import", str(tmp_path / "nope.pth"), "--arch", "unet_256", "--out", str(tmp_path / "o")])
