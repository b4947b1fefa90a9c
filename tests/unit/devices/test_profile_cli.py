"""``decig profile``: the per-layer table and the JSON artifact it writes."""

import argparse

import pytest

from decig.devices.cli import register_cli
from decig.devices.profile import load_profile
from decig.core.errors import DeviceError
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="decig")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cpu_profile_prints_table_and_writes_loadable_json(tmp_path, capsys):
    out = tmp_path / "p.json"
    argv = ["profile", "--arch", "unet_32", "--ngf", "8", "--device", "cpu", "--repeats", "2", "--warmup", "0"]
    assert _run([*argv, "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    layers = prunable_layers(create_model("unet_32", ngf=8))
    assert "raw (ms)" in text and "l(i)" in text
    assert all(name in text for name, _ in layers)
    profile = load_profile(out, layers)
    assert profile.model["arch"]["name"] == "unet_32" and profile.model["arch"]["ngf"] == 8


def test_mac_profile_at_another_input_size(capsys):
    assert _run(["profile", "--arch", "unet_32", "--device", "mac", "--input-size", "64"]) == 0
    text = capsys.readouterr().out
    assert "input 1x3x64x64" in text and "raw (macs)" in text


def test_bad_device_fails_before_building_the_model():
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        _run(["profile", "--arch", "unet_256", "--device", "gpu"])
