"""``decig prune`` end to end on a small condensed U-Net: files written, plan editing, refusals."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from decig.compress.cli import register_cli
from decig.compress.plan import PruningPlan
from decig.compress.prune_run import parse_overrides
from support.synthetic import condense_weights
from decig.core.errors import PruningError
from decig.models import build_from_manifest, default_manifest, load_model, save_model


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # after the directory's 2-thread fixture; stable on a shared machine


def run(*argv):
    parser = argparse.ArgumentParser(prog="decig")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prune", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    manifest = default_manifest("unet_128", ngf=8)
    model = build_from_manifest(manifest)
    condense_weights(model, manifest, dead_fraction=0.75, scale=1e-3)
    save_model(model, manifest, root / "teacher")
    data = root / "data" / "test"
    data.mkdir(parents=True)
    for i in range(2):
        pixels = (np.random.default_rng(i).random((128, 256, 3)) * 255).astype(np.uint8)  # aligned A|B pair
        Image.fromarray(pixels).save(data / f"{i}.png")
    return root


def test_prune_writes_plan_plots_model_and_report(teacher_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("--model", teacher_dir / "teacher", "--out", out, "--round-to", 2, "--data", teacher_dir / "data") == 0
    assert {p.name for p in out.iterdir()} == {"plan.json", "hinge_plots.png", "model", "prune_report.json"}
    report = json.loads((out / "prune_report.json").read_text())
    assert report["cost"]["params_ratio"] > 5
    assert report["zero_shot"]["images"] == 2 and report["zero_shot"]["max_abs"] < 0.01
    student, manifest = load_model(out / "model")
    plan = PruningPlan.load(out / "plan.json")
    assert {name: manifest.widths[name] for name in plan.kept_widths()} == plan.kept_widths()
    assert all(w % 2 == 0 for w in plan.kept_widths().values())
    printed = capsys.readouterr().out
    assert "x fewer" in printed and "zero-shot" in printed


def test_an_edited_plan_is_applied(teacher_dir, tmp_path):
    first = tmp_path / "first"
    run("--model", teacher_dir / "teacher", "--out", first)
    data = json.loads((first / "plan.json").read_text())
    data["units"][0]["keep"] = 1
    data["units"][0]["keep_indices"] = None
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    second = tmp_path / "second"
    run("--model", teacher_dir / "teacher", "--out", second, "--plan", edited)
    _, manifest = load_model(second / "model")
    assert manifest.widths["model.model.0"] == 1
    assert "edited plan" in json.loads((second / "prune_report.json").read_text())["plan_source"]


def test_overrides_from_the_command_line(teacher_dir, tmp_path):
    run("--model", teacher_dir / "teacher", "--out", tmp_path / "o", "--override", "model.model.0=5")
    unit = PruningPlan.load(tmp_path / "o" / "plan.json").unit("model.model.0")
    assert unit.keep == 5 and unit.overridden


def test_a_generous_latency_target_keeps_the_hinge_plan(teacher_dir, tmp_path):
    out = tmp_path / "budget"
    run("--model", teacher_dir / "teacher", "--out", out, "--target-latency-ms", 10000, "--max-iterations", 2)
    budget = json.loads((out / "prune_report.json").read_text())["budget"]
    assert budget["iterations"][0]["path_point"] == 0
    assert budget["measured_ms"] <= 10000 and budget["device"] == "cpu" and budget["threads"] == 1


def test_refusals(teacher_dir, tmp_path):
    model = teacher_dir / "teacher"
    with pytest.raises(PruningError, match="--plan fixes every decision"):
        run("--model", model, "--out", tmp_path / "a", "--plan", tmp_path / "p.json", "--min-keep", 4)
    with pytest.raises(PruningError, match="--profile is only used with"):
        run("--model", model, "--out", tmp_path / "b", "--profile", tmp_path / "profile.json")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old.txt").write_text("x")
    with pytest.raises(PruningError, match="not empty"):
        run("--model", model, "--out", busy)
    discriminator = default_manifest("patchgan_70", ngf=8)
    save_model(build_from_manifest(discriminator), discriminator, tmp_path / "d")
    with pytest.raises(PruningError, match="generators only"):
        run("--model", tmp_path / "d", "--out", tmp_path / "c")
    with pytest.raises(SystemExit):
        run("--model", model, "--out", tmp_path / "e", "--target-fps", 10, "--target-latency-ms", 5)


def test_parse_overrides():
    assert parse_overrides(["a.b=3", " c =4"]) == {"a.b": 3, "c": 4}
    for bad in (["a"], ["=3"], ["a=x"]):
        with pytest.raises(PruningError):
            parse_overrides(bad)
