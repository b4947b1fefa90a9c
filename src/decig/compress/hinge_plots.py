"""Figures of a pruning plan: each unit's sorted channel magnitudes with its hinge marked.

This is what a person looks at before accepting or editing ``plan.json``: one panel per decision
unit, magnitudes sorted descending on a log axis (the paper's Fig. 2(d), where the near-zero
channels separate from the live ones), the detected hinge as a dashed line, the final cut as a
solid line with the pruned channels shaded. Red titles flag manual overrides, grey ones "no clear
knee" layers kept whole.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly, not through
``pyplot``: no global state, no display needed, safe in worker threads and headless pods.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from decig.compress.plan import PruningPlan, UnitPlan

GRID_FILE = "hinge_plots.png"
# Level k >= 1 of the nested U-Net: "model.model.1.model" + ".3.model" * (k - 1) + ".<index>".
_UNET_INNER = re.compile(r"model\.model\.1\.model((?:\.3\.model)*)\.(\d+)")
_COLUMNS = 4


def unet_label(name: str) -> str:
    """'down 2' / 'up 2' for a U-Net layer name (level 0 is outermost; see decig.models.unet)."""
    match = _UNET_INNER.fullmatch(name)
    if match is None:
        return "down 0" if name == "model.model.0" else "up 0"
    level = 1 + len(match.group(1)) // len(".3.model")
    return f"{'down' if match.group(2) == '1' else 'up'} {level}"


def draw_unit(ax: Axes, unit: UnitPlan, floor_ratio: float, family: str = "") -> None:
    """One panel: sorted magnitudes (log y), detected hinge, final cut, pruned region shaded."""
    values = np.sort(np.asarray(unit.magnitudes, dtype=np.float64))[::-1]
    top = float(values[0]) if values.size and values[0] > 0 else 1.0
    values = np.maximum(values, top * floor_ratio)  # zeros cannot be drawn on a log axis
    x = np.arange(1, values.size + 1)
    ax.semilogy(x, values, marker=".", markersize=3, linewidth=1, color="tab:blue")
    if unit.hinge.clear:
        ax.axvline(unit.hinge.keep + 0.5, color="tab:orange", linestyle="--", linewidth=1, label="hinge")
    ax.axvline(unit.keep + 0.5, color="tab:red", linewidth=1.2, label="cut")
    if unit.keep < unit.width:
        ax.axvspan(unit.keep + 0.5, unit.width + 0.5, color="tab:red", alpha=0.08)
    members = f" +{len(unit.layers) - 1} coupled" if len(unit.layers) > 1 else ""
    # Deep U-Net names run to 70 characters; the level label identifies the layer (names in plan.json).
    label = f"{unet_label(unit.name)} (…{unit.name[-18:]})" if family == "unet" and len(unit.name) > 24 else unit.name
    if family == "unet" and len(unit.name) <= 24:
        label = f"{unet_label(unit.name)} ({unit.name})"
    title = f"{label}{members}\nkeep {unit.keep}/{unit.width}"
    budget = any(reason.startswith("latency budget") for reason in unit.reasons)
    if unit.overridden:
        title += " (override)"
    elif budget:
        title += f" (latency budget; hinge {unit.hinge.keep if unit.hinge.clear else 'none'})"
    elif not unit.hinge.clear:
        title += " (no clear knee)"
    else:
        title += f" (contrast {unit.hinge.contrast_decades:.1f} dec)"
    color = "tab:red" if unit.overridden else ("grey" if not unit.hinge.clear else "black")
    ax.set_title(title, fontsize=6, color=color)
    ax.set_xlim(0.5, unit.width + 0.5)
    ax.tick_params(labelsize=6)
    ax.minorticks_off()  # decade ticks are enough to read a hinge, and minor log ticks double the render time
    ax.grid(True, which="major", alpha=0.3)


def plot_plan(plan: PruningPlan, path: str | Path) -> Path:
    """All units in one grid image (PNG); returns the path written."""
    path = Path(path)
    units = plan.units
    columns = min(_COLUMNS, len(units))
    rows = math.ceil(len(units) / columns)
    fig = Figure(figsize=(3.2 * columns, 2.4 * rows), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, unit in zip(axes.flat, units):
        draw_unit(ax, unit, plan.settings.floor_ratio, plan.family)
    for ax in list(axes.flat)[len(units) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("channel rank", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("L1 magnitude (sorted)", fontsize=7)
    summary = plan.summary()
    fig.suptitle(
        f"{plan.family}: {summary['channels_after']}/{summary['channels_before']} channels kept, "
        f"hinge method {plan.settings.method}",
        fontsize=9,
    )
    # Fixed margins instead of tight_layout(), which re-renders every label several times (seconds per grid).
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.3 / rows, top=1 - 0.45 / rows, hspace=0.75, wspace=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_units(plan: PruningPlan, directory: str | Path) -> list[Path]:
    """One PNG per unit in ``directory`` (file names are the layer names)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for unit in plan.units:
        fig = Figure(figsize=(4.5, 3.2), dpi=110)
        FigureCanvasAgg(fig)
        draw_unit(fig.add_subplot(), unit, plan.settings.floor_ratio, plan.family)
        fig.subplots_adjust(left=0.15, right=0.97, bottom=0.12, top=0.85)
        out = directory / f"{unit.name}.png"
        fig.savefig(out)
        written.append(out)
    return written
