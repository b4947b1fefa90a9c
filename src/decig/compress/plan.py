"""The pruning plan: per decision unit, how many and which output channels to keep.

A plan is data a person can read, edit and apply (``decig prune --plan plan.json``). One entry per
*decision unit* — a single layer, or a coupled group such as the ResNet trunk (see
:mod:`decig.compress.coupling`) — so a coupled group cannot be edited into inconsistent halves.
Each entry holds the layer names, the width, ``keep``, the sorted ``keep_indices`` (the top-``keep``
channels by magnitude), the magnitudes the ranking used, the hinge found, whether ``keep`` was a
manual override, and the reasons for the final number.

Ranking magnitudes: a single layer uses its channels' L1 norms. A coupled group combines its
members so that each counts equally whatever its scale: every member's L1 norms are divided by
their sum (the channel's *share* of that layer's weight) and the shares are averaged over members.

Editing: change ``keep`` and either give matching ``keep_indices`` or set them to ``null`` to take
the top-``keep`` channels by the recorded magnitudes.

JSON layout (schema version 1)::

    {"schema_version": 1, "kind": "decig-pruning-plan", "family": "unet",
     "settings": {... HingeSettings ...},
     "fixed_layers": ["model.model.3"],          # never pruned (the output image layer)
     "units": [{"layers": [...], "width": 64, "keep": 40, "keep_indices": [...],
                "magnitudes": [...], "overridden": false, "reasons": [...],
                "hinge": {"method": "kneedle", "keep": 40, "score": 0.59,
                          "contrast_decades": 3.0, "knee_strength": 0.59, "clear": true}}, ...]}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decig.compress.coupling import decision_units
from decig.compress.hinge import HingeResult, HingeSettings, decide_keep
from decig.core.errors import ConfigError, PruningError
from decig.models.manifest import ArchManifest

PLAN_SCHEMA_VERSION = 1
PLAN_KIND = "decig-pruning-plan"
_UNIT_KEYS = ("layers", "width", "keep", "keep_indices", "magnitudes", "overridden", "reasons", "hinge")
_HINGE_KEYS = ("method", "keep", "score", "contrast_decades", "knee_strength", "clear")


def top_indices(magnitudes: Sequence[float] | np.ndarray, keep: int) -> tuple[int, ...]:
    """Indices of the ``keep`` largest magnitudes, ascending; ties keep the lower channel index."""
    order = np.argsort(-np.asarray(magnitudes, dtype=np.float64), kind="stable")
    return tuple(sorted(int(i) for i in order[:keep]))


@dataclass(frozen=True)
class UnitPlan:
    """The decision for one layer or coupled group; ``layers[0]`` names it."""

    layers: tuple[str, ...]
    width: int
    keep: int
    keep_indices: tuple[int, ...]
    magnitudes: tuple[float, ...]
    hinge: HingeResult
    overridden: bool
    reasons: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.layers[0]

    @property
    def pruned_indices(self) -> tuple[int, ...]:
        kept = set(self.keep_indices)
        return tuple(i for i in range(self.width) if i not in kept)

    def kept_magnitudes(self) -> np.ndarray:
        """Magnitudes of the kept channels, strongest first (ties: lower channel index first)."""
        values = np.asarray(self.magnitudes, dtype=np.float64)[list(self.keep_indices)]
        return values[np.argsort(-values, kind="stable")]

    def narrowed(self, keep: int, reason: str) -> UnitPlan:
        """The unit keeping only the ``keep`` strongest of its currently kept channels (latency budget).

        Narrowing works within ``keep_indices`` rather than re-ranking all channels, so the channels a
        person chose in an edited plan stay chosen.
        """
        if not 1 <= keep <= self.keep:
            raise PruningError(f"{self.name!r}: cannot narrow {self.keep} kept channels to {keep}")
        kept = np.asarray(self.keep_indices)
        strongest = kept[np.argsort(-np.asarray(self.magnitudes)[kept], kind="stable")[:keep]]
        return dataclasses.replace(
            self, keep=keep, keep_indices=tuple(sorted(int(i) for i in strongest)), reasons=(*self.reasons, reason)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "width": self.width,
            "keep": self.keep,
            "keep_indices": list(self.keep_indices),
            "magnitudes": list(self.magnitudes),
            "overridden": self.overridden,
            "reasons": list(self.reasons),
            "hinge": dataclasses.asdict(self.hinge),
        }


@dataclass(frozen=True)
class PruningPlan:
    family: str
    settings: HingeSettings
    units: tuple[UnitPlan, ...]
    fixed_layers: tuple[str, ...]

    def unit(self, layer: str) -> UnitPlan:
        """The unit deciding ``layer`` (any member of a coupled group finds the group)."""
        for unit in self.units:
            if layer in unit.layers:
                return unit
        raise PruningError(f"the plan has no prunable layer {layer!r}")

    def kept_widths(self) -> dict[str, int]:
        """Kept output channels of every prunable layer (coupled members listed individually)."""
        return {layer: unit.keep for unit in self.units for layer in unit.layers}

    def replace_units(self, units: Sequence[UnitPlan]) -> PruningPlan:
        return dataclasses.replace(self, units=tuple(units))

    def summary(self) -> dict[str, int]:
        channels = sum(u.width * len(u.layers) for u in self.units)
        kept = sum(u.keep * len(u.layers) for u in self.units)
        return {
            "units": len(self.units),
            "pruned_units": sum(1 for u in self.units if u.keep < u.width),
            "overridden_units": sum(1 for u in self.units if u.overridden),
            "no_knee_units": sum(1 for u in self.units if not u.hinge.clear),
            "channels_before": channels,
            "channels_after": kept,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "kind": PLAN_KIND,
            "family": self.family,
            "settings": self.settings.to_dict(),
            "fixed_layers": list(self.fixed_layers),
            "units": [u.to_dict() for u in self.units],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> PruningPlan:
        return _plan_from_dict(data, where)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, path)  # never a half-written plan under the real name
        return path

    @classmethod
    def load(cls, path: str | Path) -> PruningPlan:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise PruningError(f"plan file {path} not found") from None
        except (OSError, json.JSONDecodeError) as err:
            raise PruningError(f"{path} cannot be read as JSON: {err}") from None
        return _plan_from_dict(data, str(path))

    def check_against(self, manifest: ArchManifest) -> None:
        """Raise PruningError unless the plan was made for ``manifest``'s architecture.

        Checked: same family, every prunable layer decided exactly once, the same coupled groups,
        the same widths, and the fixed output layer untouched.
        """
        if manifest.family != self.family:
            raise PruningError(f"the plan is for a {self.family} model, the model is a {manifest.family}")
        if manifest.final_layer not in self.fixed_layers:
            raise PruningError(f"the plan does not hold the output layer {manifest.final_layer!r} fixed")
        expected = {unit[0]: unit for unit in decision_units(manifest)}
        seen: set[str] = set()
        for unit in self.units:
            for layer in unit.layers:
                if layer == manifest.final_layer:
                    raise PruningError(f"the plan prunes {layer!r}, the output layer, which must keep its width")
                if layer not in manifest.widths:
                    raise PruningError(f"the plan names layer {layer!r}, which this {manifest.family} model does not have")
                if layer in seen:
                    raise PruningError(f"layer {layer!r} is decided twice in the plan")
                seen.add(layer)
            group = expected.get(unit.name)
            if group is None or tuple(unit.layers) != group:
                actual = next((g for g in expected.values() if unit.name in g), (unit.name,))
                raise PruningError(
                    f"the plan groups {list(unit.layers)} but in this model {unit.name!r} is coupled with "
                    f"{list(actual)}: coupled layers must be decided together"
                )
            model_width = manifest.widths[unit.name]
            if unit.width != model_width:
                raise PruningError(
                    f"layer {unit.name!r} has {model_width} output channels in the model but the plan says {unit.width}"
                )
        missing = [name for group in expected.values() for name in group if name not in seen]
        if missing:
            raise PruningError(
                f"the plan has no decision for layer {missing[0]!r} ({len(missing)} missing); "
                "to leave a layer unpruned give it keep = width"
            )


def combined_magnitudes(stats: Mapping[str, np.ndarray], layers: Sequence[str]) -> np.ndarray:
    """Ranking magnitudes of a unit: raw L1 for one layer, mean per-layer share for a group."""
    if len(layers) == 1:
        return np.asarray(stats[layers[0]], dtype=np.float64)
    shares = []
    for layer in layers:
        values = np.asarray(stats[layer], dtype=np.float64)
        total = values.sum()
        # A member whose weights are all zero carries no ranking information; it does not vote.
        if total > 0:
            shares.append(values / total)
    if not shares:
        return np.zeros(len(stats[layers[0]]))
    return np.mean(shares, axis=0)


def _check_stats_fit(stats: Mapping[str, np.ndarray], manifest: ArchManifest, units: Sequence[tuple[str, ...]]) -> None:
    prunable = {name for unit in units for name in unit}
    for name in stats:
        if name not in prunable and name != manifest.final_layer:
            raise PruningError(f"channel stats name layer {name!r}, which is not a prunable layer of this model")
    for name in sorted(prunable, key=list(manifest.widths).index):
        if name not in stats:
            raise PruningError(f"channel stats have no entry for layer {name!r}")
        size = np.asarray(stats[name]).size
        if size != manifest.widths[name]:
            raise PruningError(f"channel stats for {name!r} have {size} channels but the layer has {manifest.widths[name]}")


def _override_for(units: Sequence[tuple[str, ...]], settings: HingeSettings) -> dict[str, int]:
    """Override per unit lead; unknown names and conflicting overrides within a group are errors."""
    by_lead: dict[str, tuple[str, int]] = {}
    for name, keep in settings.overrides.items():
        unit = next((u for u in units if name in u), None)
        if unit is None:
            raise PruningError(f"override names layer {name!r}, which is not a prunable layer of this model")
        previous = by_lead.get(unit[0])
        if previous is not None and previous[1] != keep:
            raise PruningError(
                f"overrides for coupled layers {previous[0]!r} ({previous[1]}) and {name!r} ({keep}) disagree; "
                "they share one width"
            )
        by_lead[unit[0]] = (name, keep)
    return {lead: keep for lead, (_, keep) in by_lead.items()}


def make_plan(stats: Mapping[str, np.ndarray], manifest: ArchManifest, settings: HingeSettings) -> PruningPlan:
    """Hinge, guards and overrides for every decision unit of ``manifest``'s model.

    ``stats`` maps every prunable layer to its per-channel L1 norms (channel-index order), as
    :func:`decig.compress.stats.channel_stats_from_model` returns; an entry for the output layer is ignored.
    """
    units = decision_units(manifest)
    _check_stats_fit(stats, manifest, units)
    overrides = _override_for(units, settings)
    planned = []
    for layers in units:
        magnitudes = combined_magnitudes(stats, layers)
        decision = decide_keep(magnitudes, settings, override=overrides.get(layers[0]), name=layers[0])
        planned.append(
            UnitPlan(
                layers=tuple(layers),
                width=decision.width,
                keep=decision.keep,
                keep_indices=top_indices(magnitudes, decision.keep),
                magnitudes=tuple(float(v) for v in magnitudes),
                hinge=decision.hinge,
                overridden=decision.overridden,
                reasons=decision.reasons,
            )
        )
    return PruningPlan(manifest.family, settings, tuple(planned), (manifest.final_layer,))


# ---- reading a (possibly hand-edited) plan ------------------------------------------------------


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise PruningError(f"{where}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unit_from_dict(data: Any, where: str) -> UnitPlan:
    _require(isinstance(data, dict), where, "each unit must be a JSON object")
    unknown = sorted(set(data) - set(_UNIT_KEYS))
    _require(not unknown, where, f"unknown key(s) {', '.join(unknown)}")
    missing = [key for key in _UNIT_KEYS if key not in data and key != "keep_indices"]
    _require(not missing, where, f"missing key(s) {', '.join(missing)}")
    layers = data["layers"]
    _require(
        isinstance(layers, list) and bool(layers) and all(isinstance(x, str) for x in layers),
        where,
        "'layers' must be a non-empty list of layer names",
    )
    where = f"{where} ({layers[0]})"
    width, keep = data["width"], data["keep"]
    _require(_is_int(width) and width >= 1, where, f"'width' must be a positive integer, got {width!r}")
    _require(_is_int(keep), where, f"'keep' must be an integer, got {keep!r}")
    _require(1 <= keep <= width, where, f"keep {keep} must be between 1 and the width {width}")
    magnitudes = data["magnitudes"]
    _require(
        isinstance(magnitudes, list) and len(magnitudes) == width,
        where,
        f"'magnitudes' must list one value per channel ({width})",
    )
    try:
        mags = np.asarray(magnitudes, dtype=np.float64)
    except (TypeError, ValueError):
        raise PruningError(f"{where}: 'magnitudes' must be numbers") from None
    _require(bool(np.all(np.isfinite(mags)) and np.all(mags >= 0)), where, "'magnitudes' must be finite and >= 0")
    indices = data.get("keep_indices")
    if indices is None:
        kept = top_indices(mags, keep)
    else:
        _require(isinstance(indices, list) and all(_is_int(i) for i in indices), where, "'keep_indices' must be a list of integers or null")
        _require(
            len(indices) == keep,
            where,
            f"keep is {keep} but {len(indices)} keep_indices are listed; edit both, or set keep_indices to null "
            "to keep the top channels by magnitude",
        )
        _require(len(set(indices)) == len(indices), where, "keep_indices has duplicates")
        bad = [i for i in indices if not 0 <= i < width]
        _require(not bad, where, f"keep_indices {bad[:5]} are outside 0..{width - 1}")
        kept = tuple(sorted(indices))
    hinge = data["hinge"]
    _require(isinstance(hinge, dict) and set(hinge) == set(_HINGE_KEYS), where, f"'hinge' must have keys {', '.join(_HINGE_KEYS)}")
    reasons = data["reasons"]
    _require(isinstance(reasons, list) and all(isinstance(r, str) for r in reasons), where, "'reasons' must be a list of strings")
    _require(isinstance(data["overridden"], bool), where, "'overridden' must be true or false")
    return UnitPlan(
        layers=tuple(layers),
        width=width,
        keep=keep,
        keep_indices=kept,
        magnitudes=tuple(float(v) for v in mags),
        hinge=HingeResult(**hinge),
        overridden=data["overridden"],
        reasons=tuple(reasons),
    )


def _plan_from_dict(data: Any, where: str) -> PruningPlan:
    _require(isinstance(data, dict), where, "a plan must be a JSON object")
    _require(data.get("kind") == PLAN_KIND, where, f"not a decig pruning plan (kind must be {PLAN_KIND!r})")
    version = data.get("schema_version")
    _require(
        version == PLAN_SCHEMA_VERSION, where, f"plan schema_version {version!r} is not supported (this decig reads {PLAN_SCHEMA_VERSION})"
    )
    known = {"schema_version", "kind", "family", "settings", "fixed_layers", "units"}
    unknown = sorted(set(data) - known)
    _require(not unknown, where, f"unknown key(s) {', '.join(unknown)}")
    _require(isinstance(data.get("family"), str), where, "'family' must be a string")
    settings_data = data.get("settings")
    _require(isinstance(settings_data, dict), where, "'settings' must be an object")
    try:
        settings = HingeSettings(**settings_data)
    except (TypeError, ConfigError) as err:
        raise PruningError(f"{where}: bad 'settings': {err}") from None
    fixed = data.get("fixed_layers")
    _require(isinstance(fixed, list) and all(isinstance(x, str) for x in fixed), where, "'fixed_layers' must be a list of names")
    units = data.get("units")
    _require(isinstance(units, list) and bool(units), where, "'units' must be a non-empty list")
    parsed = tuple(_unit_from_dict(unit, f"{where}: unit {i}") for i, unit in enumerate(units))
    return PruningPlan(data["family"], settings, parsed, tuple(fixed))
