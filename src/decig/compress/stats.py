"""Per-channel magnitudes of a generator's prunable layers, as Stage II reads them.

Stage II ranks channels by their group magnitude — the L1 norm of their output-channel weights plus
the per-channel shift that leaves with them (:mod:`decig.compress.groups`) — the quantity Stage I's
penalty condenses (:func:`decig.compress.penalty.group_magnitude`). Stage I writes these numbers
into its ``channel_stats.json`` (:mod:`decig.train.channel_stats`, the one file format for channel
magnitudes: per layer the magnitudes by channel index for pruning and sorted for Fig. 2) so a plan
can be made and reviewed without loading the model; when the file is not given they are recomputed
from the weights by the same function, which gives the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from decig.compress.groups import channel_offsets
from decig.compress.penalty import group_magnitude
from decig.core.errors import PruningError
from decig.models.cost import prunable_layers

# The channel_stats.json layout (written by decig.train.channel_stats). Version 2 added the
# per-channel "norms" (by index) that pruning needs; version 1 files only have sorted curves.
STATS_SCHEMA_VERSION = 2
STATS_MEASURE = "group_l1_per_output_channel"

ChannelStats = dict[str, np.ndarray]


@torch.no_grad()
def channel_stats_from_model(model: nn.Module) -> ChannelStats:
    """Group magnitude of every output channel of every prunable layer (all convs but the output layer).

    The same quantity Stage I's penalty ranks (:func:`decig.compress.penalty.group_magnitude`: conv
    weights plus the norm's β or free conv bias, see :mod:`decig.compress.groups`).
    """
    layers = prunable_layers(model)
    offsets = channel_offsets(model, layers)
    return {
        name: group_magnitude(layer, offsets[name], name).detach().double().cpu().numpy() for name, layer in layers
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


def stats_from_document(data: Mapping[str, object], where: str, network: str | None = None) -> ChannelStats:
    """Per-channel magnitudes of one network of a ``channel_stats.json`` document.

    ``network`` names it (``G``, ``G_A``...); ``None`` takes the only one and refuses to guess when
    the file holds several (CycleGAN).
    """
    if data.get("schema_version") != STATS_SCHEMA_VERSION:
        hint = " (older files hold only sorted curves; rerun Stage I or let decig prune read the weights)"
        raise PruningError(
            f"{where}: channel-stats schema_version {data.get('schema_version')!r} is not supported "
            f"(this decig reads {STATS_SCHEMA_VERSION}){hint if data.get('schema_version') == 1 else ''}"
        )
    if data.get("measure") != STATS_MEASURE:
        raise PruningError(f"{where}: measure {data.get('measure')!r} is not supported (expected {STATS_MEASURE!r})")
    networks = data.get("networks")
    if not isinstance(networks, dict) or not networks:
        raise PruningError(f"{where}: no networks")
    if network is None:
        if len(networks) != 1:
            raise PruningError(f"{where} holds networks {sorted(networks)}; say which one to prune")
        network = next(iter(networks))
    if network not in networks:
        raise PruningError(f"{where} has no network {network!r} (it has {sorted(networks)})")
    layers = networks[network].get("layers") if isinstance(networks[network], dict) else None
    if not isinstance(layers, list) or not layers:
        raise PruningError(f"{where}: network {network!r} has no layers")
    per_layer: dict[str, object] = {}
    for row in layers:
        if not isinstance(row, dict) or "name" not in row or "norms" not in row:
            raise PruningError(f"{where}: a layer of {network!r} lacks its name or per-channel 'norms'")
        per_layer[str(row["name"])] = row["norms"]
    return check_stats(per_layer, where)


def load_channel_stats(path: str | Path, network: str | None = None) -> ChannelStats:
    """Read Stage I's ``channel_stats.json``: layer name -> magnitudes by channel index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PruningError(f"channel stats file {path} not found") from None
    except (OSError, json.JSONDecodeError) as err:
        raise PruningError(f"{path} cannot be read as JSON: {err}") from None
    if not isinstance(data, dict):
        raise PruningError(f"{path} is not a decig channel-stats file")
    return stats_from_document(data, str(path), network)
