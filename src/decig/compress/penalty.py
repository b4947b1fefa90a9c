"""DECIG Stage I channel penalty (paper Eq. 1-2).

    L_PENAL = Σ_i l(i) · L_i,    L_i = Σ_{j=1..n} f(j) · ‖W_{i,j}‖₁

``W_{i,j}`` is the j-th *output* channel of prunable layer i after sorting the layer's channels by
their L1 magnitude, ``f`` the rank weighting and ``l(i)`` the layer's device factor
(:mod:`decig.devices`).

Channel groups: ``‖W_{i,j}‖₁`` is taken over the channel's whole group — its conv weights plus the
per-channel *offsets* that also leave with it and reach its output (the following norm's β, or the
conv bias when no norm follows; :mod:`decig.compress.groups` explains why). Without them a channel
with zero conv weights still outputs β after a BatchNorm, and pruning it changes the network. The
offsets are optional (``offsets=None`` is the plain conv-weight penalty); Stage II ranks channels
by the same group magnitude (:func:`group_magnitude`).

Sort direction (a decision the paper leaves implicit): channels are sorted by **descending**
magnitude, so j = 1 is the strongest channel and j = n the weakest. With the increasing shapes
(linear f = j, exponential f = e^{0.01 j}) the weakest channels then pay the highest price per unit
of weight, so they are driven to zero fastest while the strong channels are taxed least: the
weight *condenses* into few channels, which is what Stage II's hinge pruning needs (Fig. 2(d)).
The opposite direction would tax the strongest channels most and spread the weight evenly across
channels, working against pruning. With ``uniform`` (f = 1) the penalty is a plain per-layer L1
and the direction does not matter; ``none`` disables the penalty.

Output channels: a Conv2d weight is ``[out, in/groups, kH, kW]``, so a channel's norm sums dims
(1, 2, 3); a ConvTranspose2d weight is ``[in, out/groups, kH, kW]``, so it sums dims (0, 2, 3) — and
with groups, output channel ``g·(out/groups) + k`` only owns the input rows of group g. Both layouts
are handled here (:func:`channel_l1`); any other module type is refused.

Efficiency: differentiating through ``sort`` with autograd materialises several full-size
temporaries per step. Sorting only permutes channels, so the gradient is exact and cheap in closed
form: ∂L_i/∂W_c = l(i) · f(rank(c)) · sign(W_c) for the channels c of the layer.
:class:`ChannelPenalty` computes the ranks without autograd and supplies that gradient through one
:class:`torch.autograd.Function` for all layers. On CPU the remaining cost is memory traffic, so
weights are streamed in cache-sized blocks and the gradient is written into per-layer buffers reused
across steps (fresh full-size tensors cost page faults every step); the buffers hold as much memory
as the penalised weights. :func:`reference_penalty` is the naive autograd form, kept as the
correctness reference for tests and as the baseline of ``benchmarks/bench_penalty_overhead.py``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from decig.core.errors import ConfigError

SHAPES = ("none", "uniform", "linear", "exponential")

NamedLayers = Sequence[tuple[str, nn.Module]]


def shape_weights(
    shape: str, n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> Tensor:
    """f(j) for j = 1..n (index 0 holds f(1), the weight of the strongest channel)."""
    j = torch.arange(1, n + 1, dtype=dtype, device=device)
    if shape == "uniform":
        return torch.ones_like(j)
    if shape == "linear":
        return j
    if shape == "exponential":
        return torch.exp(0.01 * j)
    if shape == "none":
        return torch.zeros_like(j)
    raise ConfigError(f"unknown penalty shape {shape!r}; choose one of {', '.join(SHAPES)}")


# Elements per block when streaming over a weight: temporaries of this size stay in the CPU cache
# and below the allocator's mmap threshold. Whole-weight temporaries (up to 32 MB per layer) were
# dominated by page faults of fresh allocations: 3-5x slower on these machines.
_BLOCK = 1 << 17


@dataclass(frozen=True)
class _Layout:
    """How a layer's weight maps to its output channels.

    The weight is viewed as ``[groups, rows, out/groups, taps]``: output channel ``(g, k)`` owns
    ``view[g, :, k, :]``. Work is done in blocks along the rows (ConvTranspose2d) or along the
    channels (Conv2d, where rows = 1), so every reduction runs over a contiguous, cache-sized block.
    """

    groups: int
    rows: int
    out_per_group: int
    taps: int

    def view(self, weight: Tensor) -> Tensor:
        return weight.reshape(self.groups, self.rows, self.out_per_group, self.taps)

    def _blocks(self, v: Tensor) -> tuple[int, tuple[Tensor, ...]]:
        dim = 1 if self.rows > 1 else 2
        per_slice = v.select(dim, 0).numel()
        return dim, v.split(max(1, _BLOCK // per_slice), dim)

    def norms(self, weight: Tensor) -> Tensor:
        dim, blocks = self._blocks(self.view(weight))
        if dim == 1:
            # Each block adds its rows' |w| into a running [groups, out/groups, taps] sum.
            acc = blocks[0].abs().sum(1)
            for b in blocks[1:]:
                acc = acc + b.abs().sum(1)
            return acc.sum(2).reshape(-1)
        return torch.cat([b.abs().sum(3) for b in blocks], dim=2).reshape(-1)

    def signed(self, weight: Tensor, coef: Tensor, out: Tensor) -> Tensor:
        """Write ``coef[channel] · sign(weight)`` into ``out`` (shaped like ``weight``) and return it."""
        c = coef.reshape(self.groups, 1, self.out_per_group, 1)
        dim, blocks = self._blocks(self.view(weight))
        _, out_blocks = self._blocks(self.view(out))
        start = 0
        for b, o in zip(blocks, out_blocks, strict=True):
            torch.sign(b, out=o)
            o.mul_(c if dim == 1 else c.narrow(2, start, b.shape[2]))
            start += b.shape[dim]
        return out


def _layout(name: str, module: nn.Module) -> _Layout:
    w = module.weight
    if isinstance(module, nn.Conv2d):
        # [out, in/g, kH, kW]: everything behind the first dim belongs to that output channel, groups or not.
        return _Layout(groups=1, rows=1, out_per_group=w.shape[0], taps=w[0].numel())
    if isinstance(module, nn.ConvTranspose2d):
        # [in, out/g, kH, kW] = [g, in/g, out/g, kH·kW]: output channel (gi, k) sees only group gi's inputs.
        g = module.groups
        return _Layout(groups=g, rows=w.shape[0] // g, out_per_group=w.shape[1], taps=w.shape[2] * w.shape[3])
    raise TypeError(
        f"layer {name!r} is a {type(module).__name__}; the channel penalty supports only Conv2d and ConvTranspose2d"
    )


def channel_l1(module: nn.Module, name: str = "<layer>") -> Tensor:
    """Per-output-channel L1 norms ``‖W_c‖₁`` of a Conv2d/ConvTranspose2d, shape ``[out_channels]``.

    Differentiable when called with grad enabled; the output is ordered by channel index.
    """
    return _layout(name, module).norms(module.weight)


def group_magnitude(module: nn.Module, offsets: Sequence[Tensor] = (), name: str = "<layer>") -> Tensor:
    """Per-output-channel magnitude of a channel group: ``‖W_c‖₁ + Σ_v |v_c|`` over the offsets ``v``.

    The quantity the penalty ranks and shrinks and Stage II's hinges are found on; with no offsets
    it is :func:`channel_l1`.
    """
    norms = channel_l1(module, name)
    for v in offsets:
        norms = norms + v.abs()
    return norms


def channel_ranks(norms: Tensor) -> Tensor:
    """Rank of each channel by descending magnitude (0 = largest); ties keep index order."""
    order = torch.argsort(norms, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device=order.device)
    return ranks


def _check_factors(layers: NamedLayers, layer_factors: Mapping[str, float] | None) -> list[float]:
    if layer_factors is None:
        return [1.0] * len(layers)
    names = [n for n, _ in layers]
    missing = [n for n in names if n not in layer_factors]
    if missing:
        raise ConfigError(f"no layer factor l(i) for layer {missing[0]!r} ({len(missing)} missing)")
    extra = sorted(set(layer_factors) - set(names))
    if extra:
        raise ConfigError(f"layer factor given for {extra[0]!r}, which is not a prunable layer of this model")
    out = []
    for n in names:
        v = float(layer_factors[n])
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"layer factor l(i) of {n!r} must be finite and >= 0, got {v}")
        out.append(v)
    return out


def _plain_norms(module: nn.Module) -> Tensor:
    # Deliberately written straight from the weight layouts (no shared code with _Layout), so the
    # reference checks the fast path's channel bookkeeping as well as its gradient.
    w = module.weight
    if isinstance(module, nn.ConvTranspose2d):
        return torch.cat([part.abs().sum((0, 2, 3)) for part in w.chunk(module.groups, 0)])
    return w.abs().sum((1, 2, 3))


Offsets = Mapping[str, Sequence[Tensor]]


def _check_offsets(layers: NamedLayers, offsets: Offsets | None) -> list[tuple[Tensor, ...]]:
    """Each layer's offset vectors, in layer order; validated against the layer's width."""
    names = [n for n, _ in layers]
    if offsets is None:
        return [()] * len(layers)
    extra = sorted(set(offsets) - set(names))
    if extra:
        raise ValueError(f"channel-group offsets given for {extra[0]!r}, which is not a penalized layer")
    out = []
    for name, module in layers:
        vectors = tuple(offsets.get(name, ()))
        lay = _layout(name, module)
        width = lay.groups * lay.out_per_group
        for v in vectors:
            if v.dim() != 1 or v.shape[0] != width:
                raise ValueError(f"layer {name!r}: offset of shape {tuple(v.shape)} does not match its {width} channels")
        out.append(vectors)
    return out


def reference_penalty(
    layers: NamedLayers,
    shape: str,
    layer_factors: Mapping[str, float] | None = None,
    offsets: Offsets | None = None,
) -> Tensor:
    """Naive autograd form of L_PENAL (sort included); slow, kept as the exactness reference."""
    factors = _check_factors(layers, layer_factors)
    extras = _check_offsets(layers, offsets)
    total = torch.zeros((), device=layers[0][1].weight.device)
    for (name, module), l_i, vectors in zip(layers, factors, extras, strict=True):
        _layout(name, module)  # same refusal of unsupported layer types as the fast path
        norms = _plain_norms(module)
        for v in vectors:
            norms = norms + v.abs()
        f = shape_weights(shape, norms.numel(), dtype=norms.dtype, device=norms.device)
        total = total + l_i * (f * torch.sort(norms, descending=True).values).sum()
    return total


class _Claim:
    """Identifies one evaluation of a penalty; only the latest may write into the shared gradient buffers."""


class _RankedL1(torch.autograd.Function):
    """Σ_i Σ_c coef_i[c] · (‖W_{i,c}‖₁ + Σ_v |v_c|) with ranks frozen in the forward; gradient coef · sign(·).

    ``tensors`` holds every layer's weight, then the offset vectors of all layers in layer order;
    ``plan[i]`` says how many offsets layer i has.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        plan: tuple[tuple[_Layout, Tensor, float, int], ...],
        owner: ChannelPenalty,
        claim: _Claim,
        *tensors: Tensor,
    ) -> Tensor:
        weights = tensors[: len(plan)]
        offsets = list(tensors[len(plan) :])
        total = torch.zeros((), dtype=weights[0].dtype, device=weights[0].device)
        coefs = []
        for (lay, f, l_i, n_off), w in zip(plan, weights, strict=True):
            norms = lay.norms(w)
            for v in offsets[:n_off]:
                norms = norms + v.abs()
            del offsets[:n_off]
            coef = f[channel_ranks(norms)] * l_i
            total += torch.dot(coef, norms)
            coefs.append(coef)
        ctx.coefs = coefs
        ctx.plan = [(lay, n_off) for lay, _, _, n_off in plan]
        ctx.owner, ctx.claim = owner, claim
        ctx.save_for_backward(*tensors)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        saved = ctx.saved_tensors
        n_layers = len(ctx.plan)
        grads: list[Tensor] = []
        offset_grads: list[Tensor] = []
        offsets = list(saved[n_layers:])
        for i, (w, coef, (lay, n_off)) in enumerate(zip(saved[:n_layers], ctx.coefs, ctx.plan, strict=True)):
            scaled = coef * grad_out
            # Scale the small coefficient vector, then a single pass over the weight.
            grads.append(lay.signed(w, scaled, ctx.owner._grad_target(i, w, ctx.claim)))
            # Offsets are one number per channel: plain tensors, no buffer reuse needed.
            offset_grads.extend(scaled * torch.sign(v) for v in offsets[:n_off])
            del offsets[:n_off]
        return (None, None, None, *grads, *offset_grads)


class ChannelPenalty:
    """L_PENAL over a fixed list of prunable layers, with an exact closed-form gradient.

    ``layer_factors`` maps each layer name to l(i) (e.g. ``DeviceProfile.factors()``); ``None``
    means l(i) = 1 for every layer. Calling the object returns the scalar penalty, differentiable
    w.r.t. every layer's weight.

    Training-loop tip: evaluate the penalty *before* the generator's forward pass. Autograd runs
    nodes created later first, so the penalty's gradient then arrives after the conv gradients and
    is added into them in place; evaluated after the forward it costs one more full-size tensor per
    weight and step (~70 ms per step for unet_128 on one CPU thread). Both orders give equal results.
    """

    def __init__(
        self,
        layers: NamedLayers,
        shape: str,
        layer_factors: Mapping[str, float] | None = None,
        offsets: Offsets | None = None,
    ) -> None:
        if not layers:
            raise ValueError("ChannelPenalty needs at least one layer")
        shape_weights(shape, 1)  # validates the shape name early, with the config-facing message
        self.shape = shape
        self.layers = list(layers)
        self.factors = _check_factors(self.layers, layer_factors)
        for name, module in self.layers:
            _layout(name, module)  # refuse unsupported layers at construction, not at the first step
        # Channel-group offsets (norm β / conv bias, see decig.compress.groups); () per layer = weights only.
        self.offsets = _check_offsets(self.layers, offsets)
        self._grad_buffers: list[Tensor | None] = [None] * len(self.layers)
        self._claim: _Claim | None = None

    def _plan(self) -> tuple[tuple[_Layout, Tensor, float, int], ...]:
        # Layouts and f tables are tiny; rebuilding them per call follows any change of the weights
        # (device, dtype, or width after pruning) instead of failing on stale shapes.
        plan = []
        for (name, m), l_i, vectors in zip(self.layers, self.factors, self.offsets, strict=True):
            lay = _layout(name, m)
            n = lay.groups * lay.out_per_group
            f = shape_weights(self.shape, n, dtype=m.weight.dtype, device=m.weight.device)
            plan.append((lay, f, l_i, len(vectors)))
        return tuple(plan)

    def __call__(self) -> Tensor:
        weights = [m.weight for _, m in self.layers]
        if self.shape == "none":
            return torch.zeros((), dtype=weights[0].dtype, device=weights[0].device)
        self._claim = claim = _Claim()
        flat_offsets = [v for vectors in self.offsets for v in vectors]
        return _RankedL1.apply(self._plan(), self, claim, *weights, *flat_offsets)

    def _grad_target(self, index: int, weight: Tensor, claim: _Claim) -> Tensor:
        """Where layer ``index``'s gradient is written: the reusable buffer when that is safe.

        Writing into freshly allocated memory costs page faults on every step, which made up about
        half of the penalty's cost on CPU; a per-layer buffer reused across steps avoids them. The
        buffer is only reused by the latest evaluation (two evaluations in one graph must not share
        it) and only when nobody kept a gradient returned earlier (e.g. from ``torch.autograd.grad``).
        Autograd itself never keeps it: ``.grad`` accumulation copies or adds out of place.
        """
        cached = self._grad_buffers[index]
        # References: the list, ``cached`` and getrefcount's argument; any more is a caller's.
        reusable = (
            claim is self._claim
            and cached is not None
            and sys.getrefcount(cached) == 3
            and (cached.shape, cached.dtype, cached.device) == (weight.shape, weight.dtype, weight.device)
        )
        if reusable:
            return cached
        fresh = torch.empty_like(weight, memory_format=torch.contiguous_format)
        if claim is self._claim:
            self._grad_buffers[index] = fresh
        return fresh

    @torch.no_grad()
    def per_layer(self) -> dict[str, float]:
        """Each layer's contribution l(i)·L_i (they sum to the penalty), for logging."""
        out = {}
        for (name, m), (lay, f, l_i, _), vectors in zip(self.layers, self._plan(), self.offsets, strict=True):
            norms = lay.norms(m.weight)
            for v in vectors:
                norms = norms + v.abs()
            out[name] = float(l_i * torch.dot(f[channel_ranks(norms)], norms))
        return out
