"""The CoroNet stage end to end on tiny generated data, and its refusals of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from decig.cli import main
from decig.config import DecigConfig
from decig.coronet.stage import coronet_stage
from decig.core.errors import CheckpointError, ConfigError
from decig.models.cost import count_cost
from decig.models.persistence import load_model


def test_paired_run_trains_sparsifies_and_writes_the_shared_model_format(
    tmp_path: Path, aligned_root: Path, paired_config: Callable[..., DecigConfig]
) -> None:
    cfg = paired_config("coronet.steps=6", "coronet.target_ratio=0.5", "coronet.checkpoint_every=3")
    seen: list[int] = []
    metrics = coronet_stage(cfg, aligned_root, None, tmp_path / "run", on_metrics=lambda step, m: seen.append(step))
    out = tmp_path / "run"
    assert seen == [1, 2, 3, 4, 5, 6]
    assert metrics["step"] == 6 and metrics["task"] == "coronet-paired"
    assert abs(metrics["ratio_params"] - 0.5) <= 0.05 * 0.5
    assert torch.isfinite(torch.tensor(metrics["loss_G"]))
    model, manifest = load_model(out / "model")
    assert count_cost(model, manifest.input_size).params_total == metrics["params"]
    assert sum(manifest.widths.values()) == metrics["channels_kept"] < metrics["channels_full"]
    assert json.loads((out / "metrics.json").read_text())["params"] == metrics["params"]
    assert yaml.safe_load((out / "config.resolved.yaml").read_text())["method"] == "coronet"
    assert json.loads((out / "run_record.json").read_text())["stage"] == "coronet"
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    # An existing run is never overwritten.
    with pytest.raises(CheckpointError, match="already holds a CoroNet run"):
        coronet_stage(cfg, aligned_root, None, out)


def test_unpaired_run_prunes_both_generators_to_a_mac_target(
    tmp_path: Path, unaligned_root: Path, unpaired_config: Callable[..., DecigConfig]
) -> None:
    cfg = unpaired_config("coronet.steps=4", "coronet.target_ratio=0.4", "coronet.target_kind=macs")
    metrics = coronet_stage(cfg, unaligned_root, None, tmp_path / "run")
    assert metrics["task"] == "coronet-unpaired"
    for name, folder in (("G_A", "model"), ("G_B", "model_B")):
        assert abs(metrics[f"{name}/ratio_macs"] - 0.4) <= 0.05 * 0.4
        model, manifest = load_model(tmp_path / "run" / folder)
        assert manifest.family == "resnet"
        assert count_cost(model, manifest.input_size).macs_true_total == metrics[f"{name}/macs"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["coronet.target_ratio=1.5"], "coronet.target_ratio"),
        (["coronet.target_kind=flops"], "coronet.target_kind"),
        (["coronet.hyper_dim=0"], "coronet.hyper_dim"),
        (["method=distill"], "method"),
        (["coronet.target_kind=latency"], "no device profile"),
        (["coronet.steps=1", "coronet.sparsify_until=0.1"], "no step to sparsify"),
        (["model.arch=patchgan_70"], "unet or resnet"),
    ],
)
def test_bad_config_is_a_clear_error_before_anything_is_written(
    tmp_path: Path, aligned_root: Path, paired_config: Callable[..., DecigConfig], overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        coronet_stage(paired_config(*overrides), aligned_root, None, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_runs_the_stage_and_reports_user_errors(
    tmp_path: Path, aligned_root: Path, paired_overrides: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sets = [arg for item in [*paired_overrides, "coronet.steps=2", "coronet.target_ratio=0.6"] for arg in ("--set", item)]
    assert main(["coronet", "train", "--data", str(aligned_root), "--out", str(tmp_path / "run"), *sets]) == 0
    assert "coronet done: 2 steps" in capsys.readouterr().out
    assert (tmp_path / "run" / "model" / "manifest.json").is_file()
    bad = [*sets, "--set", "coronet.target_kind=latency"]
    assert main(["coronet", "train", "--data", str(aligned_root), "--out", str(tmp_path / "bad"), *bad]) == 2
    assert "no device profile" in capsys.readouterr().err
