"""Per-channel magnitudes of a generator's prunable layers, and their JSON file (``channel_stats.json``).

Stage II ranks channels by the L1 norm of their output-channel weights, the quantity Stage I's
penalty condenses (:func:`decig.compress.penalty.channel_l1`). Stage I writes these numbers next to
its checkpoint so a plan can be made and reviewed without loading the model; when the file is
missing they are recomputed from the weights, which gives the same numbers.

File format (schema version 1)::

    {"schema_version": 1, "kind": "decig-channel-stats", "metric": "l1",
     "layers": {"<conv module name>": [<magnitude of channel 0>, <channel 1>, ...], ...}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from decig.compress.penalty import channel_l1
from decig.errors import PruningError
from decig.models.cost import prunable_layers

STATS_SCHEMA_VERSION = 1
STATS_KIND = "decig-channel-stats"

ChannelStats = dict[str, np.ndarray]


@torch.no_grad()
def channel_stats_from_model(model: nn.Module) -> ChannelStats:
    """L1 norm of every output channel of every prunable layer (all convs but the output layer)."""
    return {
        name: channel_l1(layer, name).detach().double().cpu().numpy() for name, layer in prunable_layers(model)
    }


def check_stats(stats: Mapping[str, object], where: str = "channel stats") -> ChannelStats:
    """Validate and convert: each layer a non-empty list of finite magnitudes >= 0."""
    out: ChannelStats = {}
    for name, values in stats.items():
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise PruningError(f"{where}: layer {name!r} must be a list of numbers") from None
        if array.ndim != 1 or array.size == 0:
            raise PruningError(f"{where}: layer {name!r} must be a non-empty list of per-channel magnitudes")
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise PruningError(f"{where}: layer {name!r} has negative or non-finite magnitudes")
        out[str(name)] = array
    return out


def save_channel_stats(stats: Mapping[str, np.ndarray], path: str | Path) -> Path:
    path = Path(path)
    data = {
        "schema_version": STATS_SCHEMA_VERSION,
        "kind": STATS_KIND,
        "metric": "l1",
        "layers": {name: [float(v) for v in np.asarray(values).reshape(-1)] for name, values in stats.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def load_channel_stats(path: str | Path) -> ChannelStats:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PruningError(f"channel stats file {path} not found") from None
    except (OSError, json.JSONDecodeError) as err:
        raise PruningError(f"{path} cannot be read as JSON: {err}") from None
    if not isinstance(data, dict) or data.get("kind") != STATS_KIND:
        raise PruningError(f"{path} is not a decig channel-stats file (kind must be {STATS_KIND!r})")
    if data.get("schema_version") != STATS_SCHEMA_VERSION:
        raise PruningError(
            f"{path}: channel-stats schema_version {data.get('schema_version')!r} is not supported "
            f"(this decig reads {STATS_SCHEMA_VERSION})"
        )
    if data.get("metric") != "l1":
        raise PruningError(f"{path}: metric {data.get('metric')!r} is not supported (expected 'l1')")
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise PruningError(f"{path}: 'layers' must map layer names to lists of magnitudes")
    return check_stats(layers, str(path))


