"""The cost of a channel selection, as a function of the kept channel count of every latent group.

Pruning a conv layer to ``in'`` of ``in`` input and ``out'`` of ``out`` output channels scales
its weight cost by ``(in'/in)·(out'/out)``; per-output-channel costs (bias, norm parameters) scale
by ``out'/out``. Three kinds of cost, matching the config's ``coronet.target_kind``:

* ``params``: weights + biases + norm parameters of every conv layer (exactly what ``count_cost``
  reports for the extracted model: the generators have no other parameters);
* ``macs``: the true multiply-adds of every conv layer (``count_cost``'s ``macs_true`` per layer);
* ``latency``: the measured per-layer latency of the device profile (``decig profile``), scaled
  the same way; the final layer is not profiled (it is never pruned), so it is charged with the
  profile's median ms-per-MAC.

The controller only needs ratios (cost / full cost), so one formula serves all three.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from decig.coronet.extract import norm_owners
from decig.coronet.hypernet import CoroNetGenerator
from decig.coronet.layout import FIXED_GROUPS
from decig.core.errors import ConfigError

TARGET_KINDS = ("params", "macs", "latency")


@dataclass(frozen=True)
class LayerTerm:
    out_group: str
    in_groups: tuple[str, ...]
    pair_cost: float  # full-width cost that scales with in·out
    out_cost: float  # full-width cost that scales with out only


@dataclass(frozen=True)
class CostModel:
    kind: str
    groups: Mapping[str, int]  # full widths
    terms: tuple[LayerTerm, ...]

    @property
    def full(self) -> float:
        return sum(t.pair_cost + t.out_cost for t in self.terms)

    def cost(self, counts: Mapping[str, int]) -> float:
        """Cost with ``counts[g]`` channels kept in group ``g`` (fixed groups: always full)."""

        def frac(group: str) -> float:
            if group in FIXED_GROUPS or group not in counts:
                return 1.0
            return counts[group] / self.groups[group]

        total = 0.0
        for t in self.terms:
            in_full = sum(self.groups[g] for g in t.in_groups)
            in_frac = sum(frac(g) * self.groups[g] for g in t.in_groups) / in_full
            total += t.pair_cost * in_frac * frac(t.out_group) + t.out_cost * frac(t.out_group)
        return total

    def ratio(self, counts: Mapping[str, int]) -> float:
        return self.cost(counts) / self.full


def build_cost_model(gen: CoroNetGenerator, kind: str, profile_path: str | Path | None = None) -> CostModel:
    """The cost model of ``gen``'s full-width architecture for ``kind`` (see the module doc)."""
    if kind not in TARGET_KINDS:
        raise ConfigError(f"coronet.target_kind must be one of {', '.join(TARGET_KINDS)}, got {kind!r}")
    from decig.models.cost import count_cost, prunable_layers

    layout = gen.layout
    full = gen.materialize()
    norms_of: dict[str, int] = {}
    for norm, conv in norm_owners(full).items():
        norms_of[conv] = norms_of.get(conv, 0) + sum(p.numel() for p in full.get_submodule(norm).parameters())
    report = count_cost(full, gen.manifest.input_size, gen.manifest.input_nc)
    by_name = {row.name: row for row in report.layers}
    pair: dict[str, float] = {}
    out: dict[str, float] = {}
    for name in layout.layers:
        conv = full.get_submodule(name)
        if kind == "params":
            pair[name] = float(conv.weight.numel())
            out[name] = float(conv.bias.numel() if conv.bias is not None else 0) + norms_of.get(name, 0)
        else:
            pair[name], out[name] = float(by_name[name].macs_true), 0.0
    if kind == "latency":
        if profile_path is None:
            raise ConfigError(
                "coronet.target_kind is 'latency' but no device profile was given; pass --profile PROFILE.json "
                "(made by 'decig profile') or use target_kind params or macs"
            )
        from decig.devices.profile import load_profile

        measured = load_profile(profile_path, prunable_layers(full)).raw()
        per_mac = statistics.median(measured[n] / pair[n] for n in measured if pair[n] > 0)
        pair = {name: measured.get(name, pair[name] * per_mac) for name in layout.layers}
    terms = tuple(LayerTerm(layout.layers[n][0], layout.layers[n][1], pair[n], out[n]) for n in layout.layers)
    return CostModel(kind=kind, groups=dict(layout.groups), terms=terms)
