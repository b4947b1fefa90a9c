"""Per-channel weight magnitudes after Stage I: the artifact the hinge detection reads.

For every prunable layer of a generator, the group magnitude of each *output* channel — the L1 norm
of its weights plus the norm's β (or free conv bias) that leaves with it
(``decig.compress.penalty.group_magnitude``, the same quantity the penalty acts on and Stage II
prunes by; ConvTranspose2d output channels are dim 1 of the weight) — sorted in descending order. The paper's Fig. 2 plots
exactly these curves: after DECIG training they fall off a cliff (the "hinge") into a tail of
near-zero channels, while a vanilla run's curves decline gently.

``channel_stats.json`` (schema version 2) is decig's one file format for channel magnitudes: Stage II
reads the per-channel ``norms`` from it (:func:`decig.compress.stats.load_channel_stats`)::

    {"schema_version": 2, "measure": "group_l1_per_output_channel",
     "thresholds": [0.01, 0.05],                 # relative to each layer's largest channel
     "networks": {"G": {
        "layers": [{"name": "model.model.0", "type": "Conv2d", "channels": 64,
                    "norms": [...by channel index...],               # what pruning needs
                    "sorted_norms": [...descending...], "max": ..., "median": ...,
                    "near_zero": {"0.01": 12, "0.05": 20},          # channel counts
                    "near_zero_share": {"0.01": 0.19, "0.05": 0.31}}, ...],
        "summary": {"layers": 13, "channels": 2880,
                    "near_zero": {...}, "near_zero_share": {...},   # over all channels
                    "mean_layer_share": {...}}}}}                    # unweighted mean over layers

A channel counts as near zero at threshold t when its norm is below ``t × max`` of its layer.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.compress.groups import channel_offsets
from decig.compress.penalty import group_magnitude
from decig.compress.stats import STATS_MEASURE, STATS_SCHEMA_VERSION
from decig.core.errors import DataError
from decig.models.cost import prunable_layers

SCHEMA_VERSION = STATS_SCHEMA_VERSION
# Version 1 files (sorted curves only) still plot, e.g. as the vanilla baseline of an older run.
_READABLE_VERSIONS = (1, STATS_SCHEMA_VERSION)
DEFAULT_THRESHOLDS = (0.01, 0.05)


def _key(t: float) -> str:
    return f"{t:g}"


@torch.no_grad()
def layer_stats(
    name: str,
    module: nn.Module,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    offsets: Sequence[torch.Tensor] = (),
) -> dict[str, Any]:
    """One layer's row; ``offsets`` are its channel group's extra vectors (:mod:`decig.compress.groups`)."""
    norms = group_magnitude(module, offsets, name).detach().float().cpu()
    ordered = torch.sort(norms, descending=True).values
    top = float(ordered[0]) if ordered.numel() else 0.0
    counts = {_key(t): int((ordered < t * top).sum()) if top > 0 else int(ordered.numel()) for t in thresholds}
    n = int(ordered.numel())
    return {
        "name": name,
        "type": type(module).__name__,
        "channels": n,
        "norms": [float(v) for v in norms.tolist()],
        "sorted_norms": [float(v) for v in ordered.tolist()],
        "max": top,
        "median": float(ordered.median()) if n else 0.0,
        "near_zero": counts,
        "near_zero_share": {k: c / n for k, c in counts.items()},
    }


def _summary(layers: Sequence[Mapping[str, Any]], thresholds: Sequence[float]) -> dict[str, Any]:
    total = sum(row["channels"] for row in layers)
    keys = [_key(t) for t in thresholds]
    near = {k: sum(row["near_zero"][k] for row in layers) for k in keys}
    return {
        "layers": len(layers),
        "channels": total,
        "near_zero": near,
        "near_zero_share": {k: near[k] / total for k in keys},
        "mean_layer_share": {k: sum(row["near_zero_share"][k] for row in layers) / len(layers) for k in keys},
    }


def network_stats(model: nn.Module, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """Stats of every prunable layer of ``model`` plus a summary."""
    named = prunable_layers(model)
    offsets = channel_offsets(model, named)
    layers = [layer_stats(name, module, thresholds, offsets[name]) for name, module in named]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no prunable conv layers")
    return {"layers": layers, "summary": _summary(layers, thresholds)}


def compute_channel_stats(
    networks: Mapping[str, nn.Module], thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> dict[str, Any]:
    """The full ``channel_stats.json`` document for the given generators (e.g. ``{"G": G}``)."""
    if not thresholds or any(not 0 < t < 1 for t in thresholds):
        raise ValueError(f"thresholds must lie in (0, 1), got {list(thresholds)}")
    return {
        "schema_version": SCHEMA_VERSION,
        "measure": STATS_MEASURE,
        "thresholds": [float(t) for t in thresholds],
        "networks": {name: network_stats(net, thresholds) for name, net in networks.items()},
    }


def write_channel_stats(stats: Mapping[str, Any], path: str | Path) -> Path:
    """Write the JSON atomically (a reader never sees half a file)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(stats, indent=1) + "\n")
    os.replace(tmp, out)
    return out


def read_channel_stats(path: str | Path) -> dict[str, Any]:
    """Load and validate a ``channel_stats.json``; DataError naming the file and the problem."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"channel statistics {p} not found (written by Stage I training)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"channel statistics {p} are not readable JSON: {err}") from None
    if not isinstance(data, dict) or data.get("schema_version") not in _READABLE_VERSIONS:
        raise DataError(f"channel statistics {p}: schema_version {data.get('schema_version') if isinstance(data, dict) else None!r} "
                        f"is not supported (this decig reads {', '.join(map(str, _READABLE_VERSIONS))})")
    networks = data.get("networks")
    if not isinstance(networks, dict) or not networks:
        raise DataError(f"channel statistics {p}: no networks")
    for net_name, net in networks.items():
        layers = net.get("layers") if isinstance(net, dict) else None
        if not isinstance(layers, list) or not layers:
            raise DataError(f"channel statistics {p}: network {net_name!r} has no layers")
        for row in layers:
            norms = row.get("sorted_norms") if isinstance(row, dict) else None
            if not isinstance(norms, list) or len(norms) != row.get("channels"):
                raise DataError(f"channel statistics {p}: layer {row.get('name') if isinstance(row, dict) else row!r} is malformed")
            if any(b > a for a, b in zip(norms, norms[1:])):
                raise DataError(f"channel statistics {p}: layer {row['name']!r} norms are not sorted descending")
            by_index = row.get("norms")
            if data["schema_version"] >= 2 and (not isinstance(by_index, list) or len(by_index) != len(norms)):
                raise DataError(f"channel statistics {p}: layer {row['name']!r} lacks per-channel norms for its {len(norms)} channels")
    return data


def plot_channel_stats(
    stats: Mapping[str, Any],
    path: str | Path,
    *,
    network: str | None = None,
    baseline: Mapping[str, Any] | None = None,
    labels: tuple[str, str] = ("DECIG", "vanilla"),
    title: str | None = None,
) -> Path:
    """Fig. 2-style plot: sorted per-channel L1 norm of every layer, one panel per layer.

    ``baseline`` (another run's stats, e.g. ``penalty.shape: none``) is overlaid dashed in the
    layers both runs share. Uses the Agg backend: works headless (CI, pods).
    """
    # A bare Figure renders through Agg without touching pyplot's global backend/state, so this
    # works headless and never interferes with a caller's interactive session.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    nets = stats["networks"]
    network = network or next(iter(nets))
    if network not in nets:
        raise ValueError(f"network {network!r} not in the statistics ({', '.join(nets)})")
    layers = nets[network]["layers"]
    base_layers = {}
    if baseline is not None and network in baseline.get("networks", {}):
        base_layers = {row["name"]: row for row in baseline["networks"][network]["layers"]}
    cols = min(4, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig = Figure(figsize=(3.4 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    threshold = min(stats.get("thresholds", DEFAULT_THRESHOLDS))
    for index, (ax, row) in enumerate(zip(axes.flat, layers)):
        x = range(1, row["channels"] + 1)
        ax.plot(x, row["sorted_norms"], color="tab:blue", lw=1.4, label=labels[0])
        if row["name"] in base_layers:
            b = base_layers[row["name"]]
            ax.plot(range(1, b["channels"] + 1), b["sorted_norms"], color="tab:gray", lw=1.2, ls="--", label=labels[1])
        ax.axhline(threshold * row["max"], color="tab:red", lw=0.6, ls=":")
        share = row["near_zero_share"][_key(threshold)]
        # U-Net module paths run long (model.model.1.model.3...): the tail is enough to tell layers apart.
        short = row["name"] if len(row["name"]) <= 28 else "…" + row["name"][-27:]
        ax.set_title(f"#{index} {row['type']} {short}\n{row['channels']} ch · {share:.0%} < {threshold:g}·max", fontsize=7)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=6)
        ax.set_xlabel("channel (sorted)", fontsize=6)
        ax.set_ylabel("‖W‖₁", fontsize=6)
    for ax in list(axes.flat)[len(layers) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(title or f"sorted channel magnitudes ({network})", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".") or "png")
    os.replace(tmp, out)
    return out
