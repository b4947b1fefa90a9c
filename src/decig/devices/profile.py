"""Per-layer device profiles: raw cost of every prunable layer and its penalty factor l(i).

For ``cpu`` and ``cuda`` the raw cost is the median latency (ms) of the layer alone at the input
it receives inside the model (see :mod:`decig.devices.timing`); for ``mac`` it is the layer's true
multiply-accumulate count (``decig.models.cost``, FlopCounterMode), the paper's device-agnostic
variant.

Normalisation: ``l(i) = raw(i) / mean_i raw(i)``. The factors have mean 1 on every device, so a
profile only redistributes the penalty between layers and ``reg: high/low`` mean the same overall
strength whatever the device or unit (ms vs MACs); α calibration would absorb the absolute scale
anyway, this keeps the factors themselves comparable across devices.

A profile is a versioned JSON artifact (:func:`save_profile` / :func:`load_profile`) carrying the
measurement facts (CPU model, cores, threads, torch and CUDA versions, time) and a content hash,
so a profile measured on the deployment device can be imported elsewhere and reused for training.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.devices.facts import device_facts
from decig.devices.spec import DeviceKind, DeviceSpec, resolve_device
from decig.devices.timing import capture_inputs, pinned_threads, summarize, timer_for
from decig.core.errors import DeviceError
from decig.core.log import get_logger, progress
from decig.models.builder import conv_out_channels
from decig.models.cost import count_cost, prunable_layers

log = get_logger(__name__)

SCHEMA_VERSION = 1
UNITS: dict[str, str] = {"cpu": "ms", "cuda": "ms", "mac": "macs"}
NamedLayers = Sequence[tuple[str, nn.Module]]
_KEYS = ("schema_version", "kind", "device", "unit", "input_shape", "model", "facts", "settings", "layers")
# Tolerance when checking stored factors against the raw values they were derived from.
_FACTOR_RTOL = 1e-9


@dataclass(frozen=True)
class LayerProfile:
    """One prunable layer: ``raw`` in the profile's unit, ``factor`` = l(i); p90/minimum only when timed."""

    name: str
    type: str
    input_shape: tuple[int, ...]
    out_channels: int
    raw: float
    factor: float
    p90: float | None = None
    minimum: float | None = None


@dataclass(frozen=True)
class DeviceProfile:
    kind: DeviceKind
    device: str
    unit: str
    input_shape: tuple[int, ...]
    model: Mapping[str, Any]
    facts: Mapping[str, Any]
    settings: Mapping[str, Any]
    layers: tuple[LayerProfile, ...]
    schema_version: int = SCHEMA_VERSION

    def factors(self) -> dict[str, float]:
        """Layer name -> l(i), ready for ``ChannelPenalty(layer_factors=...)``."""
        return {row.name: row.factor for row in self.layers}

    def raw(self) -> dict[str, float]:
        return {row.name: row.raw for row in self.layers}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "device": self.device,
            "unit": self.unit,
            "input_shape": list(self.input_shape),
            "model": dict(self.model),
            "facts": dict(self.facts),
            "settings": dict(self.settings),
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "input_shape": list(r.input_shape),
                    "out_channels": r.out_channels,
                    "raw": r.raw,
                    "factor": r.factor,
                    "p90": r.p90,
                    "minimum": r.minimum,
                }
                for r in self.layers
            ],
        }

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form (the hash itself excluded)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def check_layers(self, layers: NamedLayers) -> None:
        """Refuse a profile whose layer names differ from ``layers`` (the model's prunable layers)."""
        names = [name for name, _ in layers]
        have = self.raw()
        for name in names:
            if name not in have:
                raise DeviceError(
                    f"device profile ({self.device}) has no entry for layer {name!r} of this model; "
                    "it was measured on a different architecture — profile this model instead"
                )
        known = set(names)
        extra = [row.name for row in self.layers if row.name not in known]
        if extra:
            raise DeviceError(
                f"device profile ({self.device}) has layer {extra[0]!r}, which is not a prunable layer of this model"
            )
        widths = {row.name: row.out_channels for row in self.layers}
        for name, module in layers:
            if conv_out_channels(module) != widths[name]:
                # Same names, other widths (e.g. a pruned model): usable, but the costs describe the original.
                log.warning(
                    "layer %s has %d output channels, the profile was measured at %d",
                    name,
                    conv_out_channels(module),
                    widths[name],
                )


def normalize_factors(raw: Sequence[float]) -> list[float]:
    """l(i) = raw(i) / mean(raw): factors with mean 1 (see the module docstring)."""
    if not raw:
        raise DeviceError("cannot normalise an empty profile")
    for value in raw:
        if not math.isfinite(value) or value <= 0:
            raise DeviceError(f"layer costs must be finite and > 0 to normalise, got {value!r}")
    mean = math.fsum(raw) / len(raw)
    return [value / mean for value in raw]


def model_summary(model: nn.Module, layers: NamedLayers, arch: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the profile was measured on: class, parameter count and a fingerprint of the layers."""
    structure = [[name, type(m).__name__, list(m.weight.shape)] for name, m in layers]
    return {
        "class": type(model).__name__,
        "params": sum(p.numel() for p in model.parameters()),
        "prunable_layers": len(layers),
        "layers_sha256": hashlib.sha256(json.dumps(structure).encode()).hexdigest(),
        "arch": dict(arch) if arch is not None else None,
    }


def profile_model(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | DeviceSpec,
    layers: NamedLayers | None = None,
    *,
    warmup: int = 3,
    repeats: int = 20,
    threads: int = 1,
    arch: Mapping[str, Any] | None = None,
) -> DeviceProfile:
    """Measure the per-layer cost of ``layers`` (default: the model's prunable layers) on ``device``.

    ``input_shape`` is the model input ``(N, C, H, W)``. Timed devices run ``warmup`` untimed and
    ``repeats`` timed calls per layer with ``threads`` intra-op CPU threads (restored afterwards);
    ``arch`` (e.g. a manifest's ``to_dict()``) is recorded in the profile's model summary.
    """
    spec = resolve_device(device) if isinstance(device, str) else device
    layers = list(layers) if layers is not None else prunable_layers(model)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4:
        raise DeviceError(f"input_shape must be (N, C, H, W), got {shape}")
    if spec.is_timed and (warmup < 0 or repeats < 1):
        raise DeviceError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    if spec.is_timed:
        rows = _timed_rows(model, layers, shape, spec, warmup, repeats, threads)
        settings: dict[str, Any] = {"warmup": warmup, "repeats": repeats, "threads": threads, "statistic": "median"}
    else:
        rows = _mac_rows(model, layers, shape)
        settings = {"macs": "true (FlopCounterMode), batch as in input_shape"}
    factors = normalize_factors([r["raw"] for r in rows])
    return DeviceProfile(
        kind=spec.kind,
        device=spec.name,
        unit=UNITS[spec.kind],
        input_shape=shape,
        model=model_summary(model, layers, arch),
        facts=device_facts(spec, threads if spec.is_timed else None),
        settings=settings,
        layers=tuple(LayerProfile(factor=f, **r) for r, f in zip(rows, factors, strict=True)),
    )


def _mac_rows(model: nn.Module, layers: NamedLayers, shape: tuple[int, ...]) -> list[dict[str, Any]]:
    report = {row.name: row for row in count_cost(model, shape[2:], shape[1]).layers}
    rows = []
    for name, module in layers:
        if name not in report:
            raise DeviceError(f"layer {name!r} is not a conv layer of the model; cannot count its MACs")
        cost = report[name]
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "input_shape": (shape[0], *cost.input_shape),
                "out_channels": cost.out_channels,
                # count_cost counts batch size 1; MACs grow linearly with the batch.
                "raw": float(cost.macs_true * shape[0]),
            }
        )
    return rows


def _timed_rows(
    model: nn.Module,
    layers: NamedLayers,
    shape: tuple[int, ...],
    spec: DeviceSpec,
    warmup: int,
    repeats: int,
    threads: int,
) -> list[dict[str, Any]]:
    dev = spec.torch_device()
    timer = timer_for(spec)
    on_device = all(p.device == dev for p in model.parameters())
    # Moving a caller's model would change it under their feet; a GPU copy is cheap next to timing.
    target = model if on_device else copy.deepcopy(model).to(dev)
    modules = dict(target.named_modules())
    named = [(name, modules[name]) for name, _ in layers]
    was_training = target.training
    example = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dev)
    rows = []
    with pinned_threads(threads):
        try:
            # eval: the capture pass must not update BatchNorm statistics of the caller's model.
            target.eval()
            inputs = capture_inputs(target, named, example)
            for name, module in progress(named, desc=f"profiling {spec.name}", unit="layer"):
                x = inputs[name]
                with torch.inference_mode():
                    stats = summarize(timer.time(lambda m=module, x=x: m(x), warmup=warmup, repeats=repeats))
                rows.append(
                    {
                        "name": name,
                        "type": type(module).__name__,
                        "input_shape": tuple(x.shape),
                        "out_channels": conv_out_channels(module),
                        "raw": stats.median,
                        "p90": stats.p90,
                        "minimum": stats.minimum,
                    }
                )
        finally:
            target.train(was_training)
    return rows


def save_profile(profile: DeviceProfile, path: str | Path) -> Path:
    """Write the profile as JSON with its content hash (atomically: never a half-written file)."""
    out = Path(path)
    data = {**profile.to_dict(), "content_hash": profile.content_hash()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(out)
    return out


def load_profile(path: str | Path, layers: NamedLayers | None = None) -> DeviceProfile:
    """Read and validate a profile; with ``layers``, also check it matches the model's layers."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DeviceError(f"device profile not found: {p}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DeviceError(f"device profile {p} is not readable JSON: {err}") from None
    if not isinstance(data, dict):
        raise DeviceError(f"device profile {p} must hold a JSON object")
    stored_hash = data.pop("content_hash", None)
    profile = profile_from_dict(data, source=str(p))
    if stored_hash != profile.content_hash():
        raise DeviceError(
            f"device profile {p}: content hash does not match its contents (edited or corrupted); "
            "re-run 'decig profile' rather than editing the file"
        )
    if layers is not None:
        profile.check_layers(layers)
    return profile


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise DeviceError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DeviceError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _optional_float(row: Mapping[str, Any], key: str, where: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    return float(_need(row, key, (int, float), where))


def profile_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> DeviceProfile:
    """Inverse of :meth:`DeviceProfile.to_dict`, refusing other schema versions and inconsistent data."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DeviceError(
            f"device profile {source}: schema_version {version!r} is not supported (this decig reads {SCHEMA_VERSION})"
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise DeviceError(f"device profile {source}: unknown key(s) {', '.join(unknown)}")
    kind = _need(data, "kind", str, source)
    if kind not in UNITS:
        raise DeviceError(f"device profile {source}: kind {kind!r} is not one of {', '.join(UNITS)}")
    unit = _need(data, "unit", str, source)
    if unit != UNITS[kind]:
        raise DeviceError(
            f"device profile {source}: unit {unit!r} does not fit kind {kind!r} (expected {UNITS[kind]!r})"
        )
    raw_layers = _need(data, "layers", list, source)
    if not raw_layers:
        raise DeviceError(f"device profile {source}: no layers")
    rows = []
    for i, row in enumerate(raw_layers):
        if not isinstance(row, Mapping):
            raise DeviceError(f"device profile {source}: layers[{i}] is not an object")
        name = _need(row, "name", str, f"{source} layers[{i}]")
        where = f"{source} layer {name!r}"
        rows.append(
            LayerProfile(
                name=name,
                type=_need(row, "type", str, where),
                input_shape=tuple(_need(row, "input_shape", list, where)),
                out_channels=_need(row, "out_channels", int, where),
                raw=float(_need(row, "raw", (int, float), where)),
                factor=float(_need(row, "factor", (int, float), where)),
                p90=_optional_float(row, "p90", where),
                minimum=_optional_float(row, "minimum", where),
            )
        )
    names = [r.name for r in rows]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise DeviceError(f"device profile {source}: layer {duplicate!r} appears more than once")
    for row, expected in zip(rows, normalize_factors([r.raw for r in rows]), strict=True):
        if not math.isclose(row.factor, expected, rel_tol=_FACTOR_RTOL):
            raise DeviceError(
                f"device profile {source}: factor of layer {row.name!r} is {row.factor}, "
                f"but its raw cost gives {expected}"
            )
    return DeviceProfile(
        kind=kind,
        device=_need(data, "device", str, source),
        unit=unit,
        input_shape=tuple(_need(data, "input_shape", list, source)),
        model=_need(data, "model", dict, source),
        facts=_need(data, "facts", dict, source),
        settings=_need(data, "settings", dict, source),
        layers=tuple(rows),
    )
