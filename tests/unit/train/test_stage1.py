"""train_stage1 end to end on tiny data: outputs, metrics, callback, vanilla baseline, CLI."""

import argparse
import json

import pytest
import torch

from decig.core.errors import ConfigError
from decig.models.persistence import load_model
from decig.train.channel_stats import read_channel_stats
from decig.train.checkpoint import read_checkpoint
from decig.train.cli import register_cli
from decig.train.stage1 import train_stage1


@pytest.fixture(scope="module")
def decig_run(tmp_path_factory, aligned_root):
    from decig.config import load_config

    # Module-scoped (one training run shared by several tests), so the config is spelled out here.
    cfg = load_config(overrides=[
        "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32", "data.load_size=36",
        "data.crop_size=32", "stage1.batch_size=2", "stage1.device=cpu", "stage1.penalty.factor=mac",
        "stage1.steps=6", "stage1.log_every=2", "stage1.checkpoint_every=3", "stage1.keep_checkpoints=1",
    ])  # fmt: skip
    out = tmp_path_factory.mktemp("stage1") / "run"
    seen = []
    metrics = train_stage1(cfg, aligned_root, out, on_metrics=lambda step, m: seen.append((step, m)))
    return out, metrics, seen


def test_outputs_are_written(decig_run):
    out, _, _ = decig_run
    for name in ("config.resolved.yaml", "metrics.json", "channel_stats.json", "channel_stats.png"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest.pt", "step_000000006.pt"]
    g, manifest = load_model(out / "generator")
    assert manifest.family == "unet" and manifest.ngf == 4
    final = read_checkpoint(out / "checkpoints" / "latest.pt")
    for key, value in g.state_dict().items():
        assert torch.equal(value, final["models"]["G"][key]), key
    d, d_manifest = load_model(out / "discriminator")
    assert d_manifest.family == "patchgan" and d_manifest.input_nc == 6


def test_metrics_record_alpha_calibration_and_speed(decig_run):
    out, metrics, _ = decig_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert metrics["finished"] and metrics["step"] == 6 and metrics["world_size"] == 1
    assert metrics["alpha"] > 0 and metrics["alpha"] == metrics["alpha_calibrated"]
    assert metrics["alpha_ratio_at_start"] == pytest.approx(0.1)
    assert metrics["steps_per_s"] > 0 and metrics["wall_time_s"] > 0
    for key in ("loss_G", "loss_D", "loss_G_L1", "penalty", "near_zero_share_0.01", "mean_layer_share_0.05"):
        assert key in metrics, key
    assert metrics["penalty"] > 0 and 0 <= metrics["near_zero_share_0.01"] <= 1


def test_callback_gets_windowed_metrics(decig_run):
    _, _, seen = decig_run
    assert [step for step, _ in seen] == [2, 4, 6]
    assert all({"loss_G", "alpha", "lr_G", "penalty"} <= set(m) for _, m in seen)
    assert seen[0][1]["lr_G"] == pytest.approx(2e-4)  # constant half
    assert seen[-1][1]["lr_G"] < 2e-4  # decaying half


def test_channel_stats_cover_every_prunable_layer(decig_run):
    out, metrics, _ = decig_run
    stats = read_channel_stats(out / "channel_stats.json")
    layers = stats["networks"]["G"]["layers"]
    assert len(layers) == 9  # unet_32: 5 down + 5 up convs, minus the output layer
    assert stats["networks"]["G"]["summary"]["near_zero_share"]["0.01"] == metrics["near_zero_share_0.01"]


def test_vanilla_baseline_has_no_penalty(aligned_root, tmp_path, paired_config):
    metrics = train_stage1(paired_config("stage1.steps=2", "stage1.penalty.shape=none"), aligned_root, tmp_path / "v")
    assert metrics["alpha"] == 0.0 and metrics["penalty"] == 0.0 and metrics["loss_G_penalty"] == 0.0
    assert metrics["penalty_factor"] is None


def test_device_factor_needs_a_profile(aligned_root, tmp_path, paired_config):
    with pytest.raises(ConfigError, match="--profile"):
        train_stage1(paired_config("stage1.penalty.factor=device"), aligned_root, tmp_path / "x")


def test_cli_runs_training(aligned_root, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    out = tmp_path / "cli"
    args = parser.parse_args([
        "train", "--data", str(aligned_root), "--out", str(out),
        "--set", "model.arch=unet_32", "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "model.input_size=32",
        "--set", "data.load_size=32", "--set", "data.crop_size=32", "--set", "stage1.steps=2",
        "--set", "stage1.batch_size=3", "--set", "stage1.device=cpu", "--set", "stage1.penalty.factor=uniform",
    ])  # fmt: skip
    assert args.func(args) == 0
    assert "stage I done: 2 steps" in capsys.readouterr().out
    assert (out / "generator" / "manifest.json").is_file()
