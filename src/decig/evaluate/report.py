"""Human-readable evaluation report from :func:`decig.evaluate.run_eval.evaluate_models` output.

:func:`write_report` writes next to ``metrics.json``:

* ``report.md``: a table in the style of the DECIG paper's Fig. 3 (CPU FPS eager / ONNX Runtime,
  speedup, FID, KID, PSNR, SSIM, params, MACs true and convention, size) and the figures below,
  referenced by relative path,
* ``report.html``: the same, self-contained (figures embedded as base64 PNG),
* ``sample_grid.png``: input | ground truth | each model, for the first few test images,
* ``quality_vs_latency.png``: PSNR (and FID when measured) against eager latency, one point per model,
* ``hinge_plots.png``: a copy of the prune stage's hinge plot, when given.
"""

from __future__ import annotations

import base64
import html
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from decig.core.errors import EvaluationError

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SAMPLE_GRID = "sample_grid.png"
SCATTER = "quality_vs_latency.png"
HINGE_COPY = "hinge_plots.png"
DEFAULT_GRID_ROWS = 4

COLUMNS = (
    "Model",
    "FPS eager",
    "FPS ORT",
    "Speedup eager",
    "Speedup ORT",
    "FID",
    "KID",
    "PSNR (dB)",
    "SSIM",
    "Teacher PSNR (dB)",
    "Params (M)",
    "MACs true (G)",
    "MACs conv. (G)",
    "Size (MB)",
)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"


def _sig(value: float) -> str:
    """4 significant digits: readable for a 54 M-param model and for a 0.26 M test model alike."""
    return f"{value:.4g}"


def _latency(row: dict[str, Any], backend: str, key: str) -> Any:
    return row.get("latency", {}).get(backend, {}).get(key)


def table_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """One row of formatted cells per model, in :data:`COLUMNS` order."""
    rows = []
    for name, row in metrics["models"].items():
        cost = row["cost"]
        fid = row.get("fid") or {}
        kid = fid.get("kid_mean")
        fidelity = row.get("teacher_fidelity") or {}
        speedup_eager = _latency(row, "eager", "speedup_vs_baseline")
        speedup_ort = _latency(row, "onnx", "speedup_vs_baseline")
        rows.append(
            [
                name,
                _fmt(_latency(row, "eager", "fps"), 1),
                _fmt(_latency(row, "onnx", "fps"), 1),
                f"{_fmt(speedup_eager)}×" if speedup_eager is not None else "–",
                f"{_fmt(speedup_ort)}×" if speedup_ort is not None else "–",
                _fmt(fid.get("fid")),
                _fmt(kid * 1000 if isinstance(kid, float) else kid, 2) + (" ×10⁻³" if isinstance(kid, float) else ""),
                _fmt(row["quality"]["psnr_db"]),
                _fmt(row["quality"]["ssim"], 3),
                _fmt(fidelity.get("teacher_psnr_db")),
                _sig(cost["params"] / 1e6),
                _sig(cost["macs_true"] / 1e9),
                _sig(cost["macs_convention"] / 1e9),
                _fmt(cost["weights_mb"], 2),
            ]
        )
    return rows


def _caption(metrics: dict[str, Any]) -> list[str]:
    base = metrics["baseline"]
    data = metrics["dataset"]
    lines = [
        f"Test set: {data['count']} images of `{data['root']}` ({data['format']}, split {data['split']}, "
        f"{data['direction']}).",
        f"Speedups are against `{base}` in eager PyTorch (median batch-1 latency, interleaved); "
        "FPS = 1000 / median ms; ORT = ONNX Runtime.",
        "MACs true = what the convolutions compute; MACs conv. = the papers' convention, which charges "
        "transposed convolutions at output resolution (4× too much at stride 2).",
        "PSNR/SSIM vs ground truth, per image then averaged; Teacher PSNR = PSNR of the model's outputs vs "
        f"the teacher's (`{metrics.get('teacher')}`), ∞ when identical. Size = MB (10⁶ bytes) of the saved weights.",
    ]
    settings = metrics.get("latency_settings")
    if settings:
        machine = settings.get("machine", {})
        lines.append(
            f"Latency: {settings['settings'].get('threads')} thread(s), "
            f"{settings['settings'].get('timed_rounds')} rounds on {machine.get('cpu_model', 'unknown CPU')}."
        )
    protocol = metrics.get("fid_protocol")
    if protocol:
        lines.append(
            f"FID/KID: offline Inception ({protocol.get('feature_layer', 'pool3')}), real {protocol.get('real_count')} "
            f"vs fake {protocol.get('fake_count')} images; {protocol.get('note', '')}".rstrip("; ")
        )
    else:
        lines.append("FID/KID not measured in this run.")
    return lines


def _load_sample(metrics: dict[str, Any], metrics_dir: Path, folder: str, file: str) -> np.ndarray:
    path = metrics_dir / metrics["samples"]["dir"] / folder / file
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def sample_grid(metrics: dict[str, Any], metrics_dir: str | Path, out_path: str | Path, *,
                rows: int = DEFAULT_GRID_ROWS) -> Path:
    """PNG grid: one row per test image, columns input | ground truth | each model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from decig.evaluate.run_eval import INPUT_DIR, REAL_DIR

    files = metrics["samples"]["files"]
    names = list(metrics["models"])
    columns = [(INPUT_DIR, "input"), (REAL_DIR, "ground truth"), *((n, n) for n in names)]
    count = min(rows, len(files[INPUT_DIR]))
    if count == 0:
        raise EvaluationError("no samples to show")
    fig, axes = plt.subplots(count, len(columns), figsize=(1.6 * len(columns), 1.6 * count + 0.3), squeeze=False)
    for r in range(count):
        for c, (folder, title) in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(_load_sample(metrics, Path(metrics_dir), folder, files[folder][r]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def quality_latency_plot(metrics: dict[str, Any], out_path: str | Path) -> Path | None:
    """PSNR (and FID if measured) vs eager median latency; None when no latency was measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for name, row in metrics["models"].items():
        ms = _latency(row, "eager", "median_ms")
        if ms is not None:
            points.append((name, ms, row["quality"]["psnr_db"], (row.get("fid") or {}).get("fid")))
    if not points:
        return None
    panels = [("PSNR vs ground truth (dB) ↑", 2)]
    if all(p[3] is not None for p in points):
        panels.append(("FID ↓", 3))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (label, index) in zip(axes[0], panels, strict=True):
        for point in points:
            y = point[index]
            if not math.isfinite(y):
                continue
            ax.scatter(point[1], y, s=40)
            ax.annotate(point[0], (point[1], y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel("eager latency, median ms (batch 1, CPU)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def _markdown_table(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_report(
    metrics: dict[str, Any],
    out_dir: str | Path,
    *,
    hinge_plot: str | Path | None = None,
    metrics_dir: str | Path | None = None,
    grid_rows: int = DEFAULT_GRID_ROWS,
) -> dict[str, Path]:
    """Write report.md, report.html and their figures into ``out_dir``; return the paths written.

    ``metrics_dir`` is where ``evaluate_models`` wrote (its samples are read from there);
    it defaults to ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(metrics_dir) if metrics_dir is not None else out
    figures: list[tuple[str, Path]] = []
    written: dict[str, Path] = {}
    written["sample_grid"] = sample_grid(metrics, source, out / SAMPLE_GRID, rows=grid_rows)
    figures.append(("Samples: input | ground truth | each model", written["sample_grid"]))
    scatter = quality_latency_plot(metrics, out / SCATTER)
    if scatter is not None:
        written["scatter"] = scatter
        figures.append(("Quality vs latency (one point per model)", scatter))
    if hinge_plot is not None:
        hinge = Path(hinge_plot)
        if not hinge.is_file():
            raise EvaluationError(f"hinge plot {hinge} does not exist")
        target = out / HINGE_COPY
        if hinge.resolve() != target.resolve():
            shutil.copyfile(hinge, target)
        written["hinge_plot"] = target
        figures.append(("Hinge plots (prune stage)", target))

    rows = table_rows(metrics)
    caption = _caption(metrics)
    title = f"DECIG evaluation: {', '.join(metrics['models'])}"
    md = [f"# {title}", "", _markdown_table(COLUMNS, rows), ""]
    md += [f"- {line}" for line in caption]
    for label, path in figures:
        md += ["", f"## {label}", "", f"![{label}]({path.relative_to(out).as_posix()})"]
    written["markdown"] = out / REPORT_MD
    written["markdown"].write_text("\n".join(md) + "\n", encoding="utf-8")

    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in caption) + "</ul>",
    ]
    for label, path in figures:
        parts.append(f'<h2>{esc(label)}</h2><img alt="{esc(label)}" src="{_data_uri(path)}">')
    parts.append("</body></html>")
    written["html"] = out / REPORT_HTML
    written["html"].write_text("\n".join(parts) + "\n", encoding="utf-8")
    return written
