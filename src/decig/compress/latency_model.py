"""Predicted batch-1 latency of a channel-pruned generator from a per-layer device profile.

Model (documented because the latency budget trusts it between measurements)::

    t(w) = Σ_L  t_L · (out_L(w) / out_L⁰) · (in_L(w) / in_L⁰)  +  t_rest · (V(w) / V⁰)

* ``t_L``: the profile's measured latency of conv layer L alone at full width. A convolution's work
  is ``out × in × k² × pixels``, so at fixed resolution it scales with the product of its output and
  input channel counts. Both move when pruning: a layer's outputs are its own unit's keep, its
  inputs are whatever its producers keep (U-Net up convs read a concatenation of two layers).
* ``t_rest = t_model − Σ_L t_L``: everything the per-layer profile does not time — norms,
  activations, concatenations, padding, the (never pruned) output layer and framework overhead.
  These are element-wise passes over the conv outputs, so they are scaled by the activation volume
  ``V(w) = Σ_L out_L(w) · H_L · W_L`` rather than held fixed: a fixed remainder over-predicts heavily
  pruned models, because on the U-Nets here it is ~20–30% of the unpruned time and shrinks with the
  channels.
* Not modelled: per-call dispatch overhead that does not shrink, and the loss of efficiency of very
  narrow convolutions (fewer channels than the SIMD width). Both make the real model a little
  slower than predicted; the latency budget corrects for that by measuring (see
  :mod:`decig.compress.budget`).

How a layer's input width depends on the kept widths is derived, not hard-coded: the architecture
is rebuilt on the ``meta`` device (no memory, no weights) once at full width and once per decision
unit with that unit one channel narrower; input widths are linear in the kept widths, so the
differences are the exact coefficients for any manifest family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from decig.compress.coupling import decision_units
from decig.core.errors import PruningError
from decig.models.builder import build_from_manifest
from decig.models.cost import conv_layers
from decig.models.manifest import ArchManifest


def _in_channels(manifest: ArchManifest) -> dict[str, int]:
    with torch.device("meta"):
        model = build_from_manifest(manifest)
    out = {}
    for name, layer in conv_layers(model):
        weight = layer.weight
        out[name] = weight.shape[0] if isinstance(layer, torch.nn.ConvTranspose2d) else weight.shape[1] * layer.groups
    return out


def _output_sizes(manifest: ArchManifest) -> dict[str, tuple[int, int]]:
    """Output (H, W) of every conv at batch 1, from one forward pass on the meta device (shapes only).

    Plain hooks rather than ``count_cost``: its FLOP counter costs seconds here and only sizes are needed.
    """
    with torch.device("meta"):
        model = build_from_manifest(manifest)
    sizes: dict[str, tuple[int, int]] = {}
    handles = [
        layer.register_forward_hook(lambda _m, _i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:])))
        for name, layer in conv_layers(model)
    ]
    try:
        with torch.no_grad():
            model(torch.empty(1, manifest.input_nc, *manifest.input_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return sizes


@dataclass(frozen=True)
class WidthStructure:
    """How every conv layer's output and input widths follow from the units' kept widths."""

    units: tuple[tuple[str, ...], ...]
    layers: tuple[str, ...]
    unit_of: np.ndarray  # [layers] index of the unit setting the layer's outputs, -1 if fixed
    out0: np.ndarray  # [layers] full output widths
    in0: np.ndarray  # [layers] full input widths
    in_coef: np.ndarray  # [layers, units] input channels gained per kept channel of each unit
    pixels: np.ndarray  # [layers] output H × W at batch 1
    widths0: np.ndarray  # [units] full widths

    def outs(self, keeps: np.ndarray) -> np.ndarray:
        """Output widths, ``[..., layers]`` for keeps ``[..., units]``."""
        fixed = np.broadcast_to(self.out0, keeps.shape[:-1] + self.out0.shape)
        chosen = np.take(keeps, np.maximum(self.unit_of, 0), axis=-1)
        return np.where(self.unit_of >= 0, chosen, fixed)

    def ins(self, keeps: np.ndarray) -> np.ndarray:
        """Input widths, ``[..., layers]`` for keeps ``[..., units]``."""
        return self.in0 + (keeps - self.widths0) @ self.in_coef.T


def width_structure(manifest: ArchManifest) -> WidthStructure:
    """Derive the width structure of ``manifest``'s (unpruned) architecture; see the module docstring."""
    units = tuple(decision_units(manifest))
    layers = tuple(manifest.widths)
    base_in = _in_channels(manifest)
    in_coef = np.zeros((len(layers), len(units)))
    for u, unit in enumerate(units):
        width = manifest.widths[unit[0]]
        if width < 2:
            continue  # cannot probe a 1-channel layer by narrowing; it cannot be pruned either
        probe = _in_channels(manifest.with_widths({name: width - 1 for name in unit}))
        for i, name in enumerate(layers):
            in_coef[i, u] = base_in[name] - probe[name]
    unit_of = np.full(len(layers), -1)
    for u, unit in enumerate(units):
        for name in unit:
            unit_of[layers.index(name)] = u
    shapes = _output_sizes(manifest)
    return WidthStructure(
        units=units,
        layers=layers,
        unit_of=unit_of,
        out0=np.array([manifest.widths[n] for n in layers], dtype=np.float64),
        in0=np.array([base_in[n] for n in layers], dtype=np.float64),
        in_coef=in_coef,
        pixels=np.array([shapes[n][0] * shapes[n][1] for n in layers], dtype=np.float64),
        widths0=np.array([manifest.widths[u[0]] for u in units], dtype=np.float64),
    )


@dataclass(frozen=True)
class LatencyModel:
    structure: WidthStructure
    layer_ms: np.ndarray  # [layers] full-width latency; 0 for layers the profile does not time
    rest_ms: float  # the untimed remainder at full width, scaled by activation volume

    @property
    def full_ms(self) -> float:
        return float(self.layer_ms.sum() + self.rest_ms)

    def predict_many(self, keeps: np.ndarray) -> np.ndarray:
        """Predicted ms for each row of kept widths ``[candidates, units]``."""
        s = self.structure
        outs, ins = s.outs(keeps), s.ins(keeps)
        conv = (self.layer_ms * (outs / s.out0) * (ins / s.in0)).sum(-1)
        volume = (outs * s.pixels).sum(-1) / (s.out0 * s.pixels).sum()
        return conv + self.rest_ms * volume

    def predict(self, keeps: Sequence[int] | np.ndarray) -> float:
        return float(self.predict_many(np.asarray(keeps, dtype=np.float64)[None, :])[0])

    def per_layer_ms(self, keeps: Sequence[int] | np.ndarray) -> dict[str, float]:
        """Predicted ms of each timed conv layer (for reports)."""
        s = self.structure
        k = np.asarray(keeps, dtype=np.float64)
        values = self.layer_ms * (s.outs(k) / s.out0) * (s.ins(k) / s.in0)
        return {name: float(v) for name, v in zip(s.layers, values) if self.layer_ms[s.layers.index(name)] > 0}


def latency_model(structure: WidthStructure, layer_ms: Mapping[str, float], model_ms: float) -> LatencyModel:
    """Combine a width structure with per-layer latencies and the whole model's latency (all full width).

    ``layer_ms`` must time every prunable layer (the output layer may be absent: it is then part of
    the remainder). A remainder below zero — per-layer timings that sum above the whole model, as
    when the two were measured under different load — is clipped to 0.
    """
    missing = [name for i, name in enumerate(structure.layers) if structure.unit_of[i] >= 0 and name not in layer_ms]
    if missing:
        raise PruningError(f"the latency profile has no entry for layer {missing[0]!r} ({len(missing)} missing)")
    unknown = [name for name in layer_ms if name not in structure.layers]
    if unknown:
        raise PruningError(f"the latency profile names layer {unknown[0]!r}, which this model does not have")
    times = np.array([float(layer_ms.get(name, 0.0)) for name in structure.layers])
    if np.any(~np.isfinite(times)) or np.any(times < 0) or not np.isfinite(model_ms) or model_ms <= 0:
        raise PruningError("latencies must be finite and >= 0 (and the whole-model latency > 0)")
    return LatencyModel(structure, times, max(0.0, float(model_ms) - float(times.sum())))
