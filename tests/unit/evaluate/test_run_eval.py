"""evaluate_models: tiny saved U-Nets on a tiny aligned dataset, every number in metrics.json."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.core.errors import EvaluationError
from decig.evaluate.paired_metrics import psnr
from decig.evaluate.run_eval import METRICS_FILE, evaluate_models, read_metrics
from decig.models.builder import build_from_manifest
from decig.models.cost import count_cost
from decig.models.persistence import save_model
from decig.models.zoo import default_manifest

N_IMAGES = 5


def write_aligned_dataset(root: Path, count: int = N_IMAGES, size: int = 32) -> Path:
    """``root/test/*.png``: 32x32 A (smooth colour ramp) | B (its inverse), 64x32 files."""
    rng = np.random.default_rng(0)
    (root / "test").mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        colour = rng.uniform(0, 1, 3)
        a = np.stack([np.clip(colour[c] * xx + (1 - colour[c]) * yy, 0, 1) for c in range(3)], -1)
        b = 1 - a
        ab = (np.concatenate([a, b], axis=1) * 255).astype(np.uint8)
        Image.fromarray(ab).save(root / "test" / f"img{i:02d}.png")
    return root


def save_models(root: Path) -> dict[str, Path]:
    """vanilla (ngf 8), teacher (ngf 8, other init), student (teacher manifest with narrower layers)."""
    manifest = default_manifest("unet_32", ngf=8)
    torch.manual_seed(1)
    vanilla = save_model(build_from_manifest(manifest), manifest, root / "vanilla")
    torch.manual_seed(2)
    teacher = save_model(build_from_manifest(manifest), manifest, root / "teacher")
    slim = manifest.with_widths({"model.model.0": 4, "model.model.1.model.1": 8})
    torch.manual_seed(3)
    student = save_model(build_from_manifest(slim), slim, root / "student")
    return {"vanilla": vanilla, "teacher": teacher, "student": student}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    models = save_models(root / "models")
    # A byte-identical copy of the teacher under another name: fidelity must be exact.
    twin = root / "models" / "twin"
    shutil.copytree(models["teacher"], twin)
    return {**models, "twin": twin, "data": write_aligned_dataset(root / "data"), "root": root}


@pytest.fixture(scope="module")
def metrics(setup: dict[str, Path]) -> dict:
    models = {name: setup[name] for name in ("vanilla", "teacher", "student", "twin")}
    return evaluate_models(
        models, setup["data"], "aligned", setup["root"] / "out", baseline="vanilla", teacher="teacher",
        fid=False, backends=("eager",), repeats=3, warmup=1,
    )


def test_writes_metrics_json_and_samples(metrics: dict, setup: dict[str, Path]) -> None:
    out = setup["root"] / "out"
    on_disk = read_metrics(out / METRICS_FILE)
    json.loads((out / METRICS_FILE).read_text())  # strict JSON (inf written as a string)
    assert on_disk["models"]["twin"]["teacher_fidelity"]["teacher_psnr_db"] == math.inf
    assert set(on_disk["models"]) == {"vanilla", "teacher", "student", "twin"}
    assert on_disk["dataset"]["count"] == N_IMAGES
    for folder in ("vanilla", "teacher", "student", "twin", "_input", "_real_B"):
        pngs = sorted((out / "samples" / folder).glob("*.png"))
        assert len(pngs) == N_IMAGES
        assert metrics["samples"]["files"][folder] == [p.name for p in pngs]
        with Image.open(pngs[0]) as img:
            assert img.size == (32, 32)


def test_cost_matches_the_models(metrics: dict) -> None:
    for name, ngf_widths in (("vanilla", {}), ("student", {"model.model.0": 4, "model.model.1.model.1": 8})):
        manifest = default_manifest("unet_32", ngf=8).with_widths(ngf_widths)
        cost = count_cost(build_from_manifest(manifest), 32)
        row = metrics["models"][name]["cost"]
        assert row["params"] == cost.params_total
        assert row["macs_true"] == cost.macs_true_total
        assert row["macs_convention"] == cost.macs_convention_total
        assert row["macs_convention"] > row["macs_true"]  # transposed convs are over-counted by the convention
        assert row["weights_mb"] > 0


def test_ratios_are_against_the_baseline(metrics: dict) -> None:
    rows = metrics["models"]
    base = rows["vanilla"]
    assert base["mac_reduction_vs_baseline"] == 1.0
    assert base["latency"]["eager"]["speedup_vs_baseline"] == pytest.approx(1.0)
    student = rows["student"]
    assert student["mac_reduction_vs_baseline"] == pytest.approx(base["cost"]["macs_true"] / student["cost"]["macs_true"])
    assert student["param_reduction_vs_baseline"] == pytest.approx(base["cost"]["params"] / student["cost"]["params"])
    assert student["mac_reduction_vs_baseline"] > 1
    eager = student["latency"]["eager"]
    assert eager["speedup_vs_baseline"] == pytest.approx(base["latency"]["eager"]["median_ms"] / eager["median_ms"])
    assert eager["fps"] == pytest.approx(1000 / eager["median_ms"])
    assert metrics["benchmark"]["baseline"] == {"model": "vanilla", "backend": "eager"}


def test_teacher_fidelity(metrics: dict) -> None:
    rows = metrics["models"]
    assert rows["teacher"]["teacher_fidelity"]["teacher_psnr_db"] == math.inf
    assert rows["twin"]["teacher_fidelity"] == {"teacher_psnr_db": math.inf, "teacher_l1": 0.0, "count": N_IMAGES}
    assert math.isfinite(rows["student"]["teacher_fidelity"]["teacher_psnr_db"])
    assert rows["student"]["teacher_fidelity"]["teacher_l1"] > 0
    # the twin is the teacher, so its quality numbers are the teacher's exactly
    assert rows["twin"]["quality"] == rows["teacher"]["quality"]


def test_quality_matches_a_direct_computation(metrics: dict, setup: dict[str, Path]) -> None:
    from decig.data.factory import load_dataset
    from decig.data.transforms import TransformConfig
    from decig.models.persistence import load_model

    model, _ = load_model(setup["vanilla"])
    ds = load_dataset("aligned", setup["data"], "test", transform=TransformConfig(preprocess="none", flip=False))
    a = torch.stack([ds[i]["A"] for i in range(len(ds))])
    b = torch.stack([ds[i]["B"] for i in range(len(ds))])
    with torch.inference_mode():
        expected = float(psnr(model.eval()(a), b).mean())
    assert metrics["models"]["vanilla"]["quality"]["psnr_db"] == pytest.approx(expected, rel=1e-6)
    assert metrics["models"]["vanilla"]["fid"] is None


def test_without_teacher_and_bad_names(setup: dict[str, Path], tmp_path: Path) -> None:
    models = {"vanilla": setup["vanilla"], "student": setup["student"]}
    result = evaluate_models(
        models, setup["data"], "aligned", tmp_path, teacher=None, fid=False, latency=False, max_images=2
    )
    assert result["models"]["student"]["teacher_fidelity"] is None
    assert result["models"]["student"]["latency"] == {}
    assert result["dataset"]["count"] == 2
    with pytest.raises(EvaluationError, match="baseline"):
        evaluate_models(models, setup["data"], "aligned", tmp_path, baseline="nope", teacher=None, fid=False)
    with pytest.raises(EvaluationError, match="teacher"):
        evaluate_models(models, setup["data"], "aligned", tmp_path, fid=False)


def test_fid_and_kid_offline(setup: dict[str, Path], tmp_path: Path, fid_cache: Path, fid_weights, no_network) -> None:  # noqa: ANN001
    models = {"vanilla": setup["vanilla"]}
    kwargs = dict(teacher=None, fid=True, fid_cache_dir=fid_cache, fid_weights=fid_weights, latency=False, max_images=3)
    result = evaluate_models(models, setup["data"], "aligned", tmp_path / "a", **kwargs)
    row = result["models"]["vanilla"]
    assert math.isfinite(row["fid"]["fid"]) and row["fid"]["fid"] > 0
    assert row["fid"]["kid_mean"] is not None
    protocol = result["fid_protocol"]
    assert protocol["real_count"] == protocol["fake_count"] == 3
    assert protocol["weights_source_sha256"] == fid_weights.source_sha256
    assert protocol["real_set"].startswith("aligned/data/test/AtoB/none-")
    # second run: the real statistics come from the cache (only the fakes are embedded); numbers repeat
    again = evaluate_models(models, setup["data"], "aligned", tmp_path / "b", **kwargs)
    assert again["models"]["vanilla"]["fid"]["fid"] == pytest.approx(row["fid"]["fid"])


def test_evaluate_cli_rejects_unknown_baseline(tmp_path, capsys):
    from decig.cli import main

    rc = main(["evaluate", "--model", f"student={tmp_path}", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
               "--baseline", "vanilla"])
    assert rc == 2
    assert "--baseline 'vanilla' is not one of the --model names (student)" in capsys.readouterr().err
