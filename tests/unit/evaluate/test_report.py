"""write_report: Fig.-3-style table, sample grid, quality-vs-latency plot, hinge plot, self-contained HTML."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decig.core.errors import EvaluationError
from decig.evaluate.report import COLUMNS, write_report
from decig.evaluate.run_eval import evaluate_models
from decig.models.builder import build_from_manifest
from decig.models.persistence import save_model
from decig.models.zoo import default_manifest

N_IMAGES = 3
SLIM = {"model.model.0": 4, "model.model.1.model.1": 8}


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "test").mkdir(parents=True)
    for i in range(N_IMAGES):
        ab = rng.integers(0, 256, size=(32, 64, 3), dtype=np.uint8)
        Image.fromarray(ab).save(root / "test" / f"p{i}.png")
    return root


def _models(root: Path) -> dict[str, Path]:
    manifest = default_manifest("unet_32", ngf=8)
    torch.manual_seed(0)
    teacher = build_from_manifest(manifest)
    return {
        "vanilla": save_model(build_from_manifest(manifest), manifest, root / "vanilla"),
        "teacher": save_model(teacher, manifest, root / "teacher"),
        "student": save_model(build_from_manifest(manifest.with_widths(SLIM)), manifest.with_widths(SLIM), root / "student"),
    }


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("report")
    out = root / "eval"
    metrics = evaluate_models(
        _models(root / "models"), _dataset(root / "data"), "aligned", out,
        fid=False, backends=("eager", "onnx"), repeats=3, warmup=1,
    )
    return metrics, out


@pytest.fixture
def hinge_png(tmp_path: Path) -> Path:
    path = tmp_path / "hinge_plots.png"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path)
    return path


def _table_rows(md: str) -> dict[str, list[str]]:
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| Model"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_markdown_table_has_a_row_per_model(evaluated: tuple[dict, Path], hinge_png: Path) -> None:
    metrics, out = evaluated
    paths = write_report(metrics, out, hinge_plot=hinge_png)
    md = paths["markdown"].read_text()
    rows = _table_rows(md)
    assert set(rows) == {"vanilla", "teacher", "student"}
    col = {name: i for i, name in enumerate(COLUMNS)}
    for name, row in metrics["models"].items():
        cells = rows[name]
        assert len(cells) == len(COLUMNS)
        assert cells[col["Params (M)"]] == f"{row['cost']['params'] / 1e6:.4g}"
        assert cells[col["MACs true (G)"]] == f"{row['cost']['macs_true'] / 1e9:.4g}"
        assert cells[col["MACs conv. (G)"]] == f"{row['cost']['macs_convention'] / 1e9:.4g}"
        assert cells[col["FPS ORT"]] != "–"  # both backends were timed
        assert cells[col["FID"]] == "–"  # fid=False
    assert rows["vanilla"][col["Speedup eager"]] == "1.00×"
    assert rows["teacher"][col["Teacher PSNR (dB)"]] == "∞"
    assert rows["student"][col["Params (M)"]] != rows["vanilla"][col["Params (M)"]]
    assert "MACs true = what the convolutions compute" in md  # says which MAC count is which
    for figure in ("sample_grid.png", "quality_vs_latency.png", "hinge_plots.png"):
        assert f"]({figure})" in md
        assert (out / figure).is_file()


def test_html_is_self_contained(evaluated: tuple[dict, Path], hinge_png: Path) -> None:
    metrics, out = evaluated
    paths = write_report(metrics, out, hinge_plot=hinge_png)
    page = paths["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # sample grid, scatter, hinge plot
    assert base64.b64decode(images[0]) == (out / "sample_grid.png").read_bytes()
    assert base64.b64decode(images[2]) == hinge_png.read_bytes()
    assert 'src="' not in page.replace('src="data:', "")  # no external references
    for name in metrics["models"]:
        assert f"<td>{name}</td>" in page


def test_sample_grid_shape(evaluated: tuple[dict, Path]) -> None:
    metrics, out = evaluated
    paths = write_report(metrics, out / "elsewhere", metrics_dir=out, hinge_plot=None)
    assert "hinge_plot" not in paths
    with Image.open(paths["sample_grid"]) as grid:
        width, height = grid.size
    # 5 columns (input, ground truth, 3 models) by 3 rows
    assert width > height
    assert "hinge" not in paths["markdown"].read_text().lower()


def test_missing_hinge_plot_is_an_error(evaluated: tuple[dict, Path], tmp_path: Path) -> None:
    metrics, out = evaluated
    with pytest.raises(EvaluationError, match="hinge plot"):
        write_report(metrics, tmp_path, metrics_dir=out, hinge_plot=tmp_path / "nope.png")


def test_no_latency_means_no_scatter(evaluated: tuple[dict, Path], tmp_path: Path) -> None:
    metrics, out = evaluated
    stripped = {**metrics, "models": {k: {**v, "latency": {}} for k, v in metrics["models"].items()}}
    paths = write_report(stripped, tmp_path, metrics_dir=out)
    assert "scatter" not in paths
    assert "–" in paths["markdown"].read_text()


def test_stage_evaluate_writes_everything(tmp_path: Path, hinge_png: Path) -> None:
    from decig.config import DataConfig, DecigConfig
    from decig import stages

    cfg = DecigConfig(data=DataConfig(preprocess="none", max_eval=2))
    models = {name: str(path) for name, path in _models(tmp_path / "models").items()}
    out = tmp_path / "stage"
    flat = stages.evaluate(cfg, models, _dataset(tmp_path / "data"), out, hinge_plot=hinge_png, fid=False,
                           backends=("eager",), repeats=2)
    for name in ("metrics.json", "report.md", "report.html", "sample_grid.png", "hinge_plots.png", "run_record.json"):
        assert (out / name).is_file(), name
    assert flat["vanilla/eager_speedup"] == pytest.approx(1.0)
    assert flat["teacher/teacher_psnr_db"] == float("inf")
    assert flat["student/params"] < flat["vanilla/params"]
