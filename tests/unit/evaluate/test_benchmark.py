"""``decig bench``: saved models timed together, with MAC reductions next to the speedups."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from decig.core.errors import EvaluationError
from decig.evaluate.cli import register_cli
from decig.models.builder import build_from_manifest
from decig.models.cost import count_cost
from decig.models.persistence import save_model
from decig.models.zoo import default_manifest


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    return parser.parse_args(argv)


@pytest.fixture
def saved_models(tmp_path: Path) -> tuple[Path, Path]:
    dirs = []
    for name, ngf in (("vanilla", 16), ("slim", 4)):
        manifest = default_manifest("unet_32", ngf=ngf)
        dirs.append(save_model(build_from_manifest(manifest), manifest, tmp_path / name))
    return dirs[0], dirs[1]


def test_bench_writes_speedups_and_mac_reductions(
    saved_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vanilla, slim = saved_models
    out = tmp_path / "bench.json"
    argv = ["bench", "--models", str(vanilla), str(slim), "--baseline", "vanilla", "--backends", "eager"]
    args = parse([*argv, "--repeats", "3", "--warmup", "1", "--out", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    macs = {
        name: count_cost(build_from_manifest(default_manifest("unet_32", ngf=ngf)), 32).macs_true_total
        for name, ngf in (("vanilla", 16), ("slim", 4))
    }
    assert result["models"]["slim"]["mac_reduction_vs_baseline"] == pytest.approx(macs["vanilla"] / macs["slim"])
    assert result["models"]["vanilla"]["mac_reduction_vs_baseline"] == 1.0
    assert result["baseline"] == {"model": "vanilla", "backend": "eager"}
    slim_timing = next(t for t in result["timings"] if t["model"] == "slim")
    assert slim_timing["speedup_over_mac_reduction"] == pytest.approx(
        slim_timing["speedup_same_backend"] / result["models"]["slim"]["mac_reduction_vs_baseline"]
    )
    assert result["settings"]["threads"] == 1
    printed = capsys.readouterr().out
    assert "vanilla" in printed and "slim" in printed and "median ms" in printed


def test_bench_refuses_ambiguous_names_and_unknown_baseline(saved_models: tuple[Path, Path], tmp_path: Path) -> None:
    vanilla, _ = saved_models
    args = parse(["bench", "--models", str(vanilla), str(vanilla), "--baseline", "vanilla", "--backends", "eager"])
    with pytest.raises(EvaluationError, match="unique"):
        args.func(args)
    args = parse(["bench", "--models", str(vanilla), "--baseline", "nope", "--backends", "eager"])
    with pytest.raises(EvaluationError, match="baseline 'nope'"):
        args.func(args)


def test_cost_command_prints_json(saved_models: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, slim = saved_models
    args = parse(["cost", str(slim)])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] > 0 and data["macs_convention"] > data["macs_true"] > 0
    assert data["memory"] is None
