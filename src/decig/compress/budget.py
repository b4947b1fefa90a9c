"""Latency budget (beyond the paper): prune past the hinges until a measured FPS / latency target is met.

The paper stops at the hinges; a deployment often has a hard frame-rate requirement instead. Given a
target (``{fps: N}`` or ``{latency_ms: X}``) on the profiled device:

1. **Greedy path.** Starting from the hinge plan, repeatedly narrow the unit whose next cut saves the
   most *predicted* time per unit of magnitude removed: ``Δt / removed`` where Δt comes from
   :mod:`decig.compress.latency_model` and ``removed`` is the L1 magnitude of the cut channels as a
   fraction of the magnitude the unit still keeps (so a cut is cheap when the channels are weak *and*
   the layer is where the time goes, and gets dearer the deeper a layer has already been cut). Each step
   removes the weakest remaining channels of one unit, down to the next multiple of ``round_to``,
   never below the guards (``min_keep``, ``min_keep_fraction``) and never touching overridden units;
   coupled layers move together because a unit is the whole group. The path is followed to the end,
   once: it does not depend on the target, so every target picks a point on the same path.
2. **Measure and search.** The latency model ranks and spaces the path's points, but its absolute
   numbers are off by per-inference costs it cannot see (module dispatch, narrow convolutions running
   below the SIMD width): on these CPUs a hinge-pruned unet_128 measured ~1.3× its prediction and
   heavily narrowed ones up to 10×. So decisions are taken on measurements (median of repeated
   batch-1 runs, threads pinned, via :func:`decig.evaluate.latency.measure_latency`): first the
   hinge plan (if it already meets the target it is kept — the budget never widens past a hinge),
   then the narrowest plan the guards allow (if that is too slow the target is infeasible: the error
   states its measured latency), then a bracketing search between the latest too-slow and the
   earliest fast-enough point (:func:`interpolate_point`: regula falsi in predicted latency, kept
   strictly inside the bracket). It stops when the fast-enough plan is within ``slack`` of the
   target, when the bracket closes, or after ``max_iterations`` measurements; the least-pruned plan
   measured at or under ``target · (1 + tolerance)`` wins. Every measurement is reported with its
   prediction.

Searching on measurements only needs latency to fall along the path, which the greedy order gives
up to timing noise; a noisy inversion at worst ends the search early, on a plan that met the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from decig.compress.hinge import guard_floor, round_up
from decig.compress.latency_model import LatencyModel
from decig.compress.plan import PruningPlan
from decig.core.errors import ConfigError, PruningError
from decig.core.log import get_logger

log = get_logger(__name__)

Measure = Callable[[nn.Module], float]
Build = Callable[[PruningPlan], nn.Module]


@dataclass(frozen=True)
class LatencyTarget:
    """A batch-1 latency the pruned model must reach, in ms (an FPS target is 1000 / fps)."""

    latency_ms: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.latency_ms) or self.latency_ms <= 0:
            raise ConfigError(f"a latency target must be a positive number of ms, got {self.latency_ms!r}")

    @property
    def fps(self) -> float:
        return 1000.0 / self.latency_ms

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> LatencyTarget:
        """From ``{"fps": N}`` or ``{"latency_ms": X}`` (exactly one)."""
        keys = set(spec)
        if keys == {"fps"}:
            fps = spec["fps"]
            if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
                raise ConfigError(f"target fps must be a positive number, got {fps!r}")
            return cls(1000.0 / float(fps))
        if keys == {"latency_ms"}:
            value = spec["latency_ms"]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"target latency_ms must be a number, got {value!r}")
            return cls(float(value))
        raise ConfigError(f"a latency target is {{fps: N}} or {{latency_ms: X}}, got {dict(spec)!r}")

    def describe(self) -> str:
        return f"{self.latency_ms:.2f} ms ({self.fps:.1f} FPS)"


@dataclass(frozen=True)
class BudgetSettings:
    max_iterations: int = 8
    tolerance: float = 0.05  # measured may exceed the target by this fraction (timing noise)
    slack: float = 0.15  # measured this far below the target counts as over-pruned: loosen and retry

    def __post_init__(self) -> None:
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise ConfigError(f"max_iterations must be an integer >= 1, got {self.max_iterations!r}")
        if not 0 <= self.tolerance < 1 or not 0 <= self.slack < 1:
            raise ConfigError(f"tolerance and slack must be in [0, 1), got {self.tolerance!r}, {self.slack!r}")


@dataclass(frozen=True)
class PathStep:
    unit: int  # index into plan.units
    keep: int  # the unit's keep after this step
    predicted_ms: float


@dataclass(frozen=True)
class GreedyPath:
    """Kept widths along the greedy path; point 0 is the hinge plan."""

    start: tuple[int, ...]
    steps: tuple[PathStep, ...]
    start_ms: float

    def __len__(self) -> int:
        return len(self.steps) + 1

    def predicted(self, point: int) -> float:
        return self.start_ms if point == 0 else self.steps[point - 1].predicted_ms

    def keeps_at(self, point: int) -> list[int]:
        keeps = list(self.start)
        for step in self.steps[:point]:
            keeps[step.unit] = step.keep
        return keeps

    def first_meeting(self, predicted_target_ms: float) -> int | None:
        """The first point predicted at or under the target (None if even the end is slower)."""
        for point in range(len(self)):
            if self.predicted(point) <= predicted_target_ms:
                return point
        return None


def unit_floors(plan: PruningPlan) -> list[int]:
    """The narrowest each unit may become: guards rounded up to ``round_to``; overridden units stay put."""
    floors = []
    for unit in plan.units:
        if unit.overridden:
            floors.append(unit.keep)
        else:
            floor = round_up(guard_floor(unit.width, plan.settings), plan.settings.round_to, unit.width)
            floors.append(min(floor, unit.keep))
    return floors


def greedy_path(plan: PruningPlan, model: LatencyModel) -> GreedyPath:
    """Follow the greedy narrowing from the plan's keeps down to the floors (see the module docstring)."""
    if tuple(plan.units[i].layers for i in range(len(plan.units))) != model.structure.units:
        raise PruningError("the latency model was built for a different set of decision units than the plan")
    step = plan.settings.round_to
    keeps = np.array([u.keep for u in plan.units], dtype=np.float64)
    floors = np.array(unit_floors(plan), dtype=np.float64)
    # Per unit, the running sum of its kept channels' magnitudes, strongest first: a cut from keep k to
    # k' removes the channels ranked k'..k-1 among the kept ones.
    cumulative = [np.concatenate([[0.0], np.cumsum(u.kept_magnitudes())]) for u in plan.units]
    start_ms = model.predict(keeps)
    current = start_ms
    steps: list[PathStep] = []
    while True:
        # Next keep of each unit: the multiple of round_to just below its current keep.
        nxt = np.floor((keeps - 1) / step) * step
        eligible = np.flatnonzero(nxt >= np.maximum(floors, 1))
        if eligible.size == 0:
            break
        candidates = np.repeat(keeps[None, :], eligible.size, axis=0)
        candidates[np.arange(eligible.size), eligible] = nxt[eligible]
        predicted = model.predict_many(candidates)
        saved = current - predicted
        # Cost of a cut: the fraction of the unit's *remaining* magnitude it removes. Relative to what is
        # left, not to the full layer, so cuts get dearer as a layer narrows: with shares of the full
        # layer, a few high-resolution layers (where the time is) were driven to the guard floor while
        # wide low-resolution layers kept most of their channels.
        removed = np.array(
            [(cumulative[u][int(keeps[u])] - cumulative[u][int(nxt[u])]) / max(cumulative[u][int(keeps[u])], 1e-300) for u in eligible]
        )
        # Zero-magnitude channels cost nothing to remove: the tiny constant ranks them first without dividing by 0.
        priority = saved / (removed + 1e-12)
        best = int(np.argmax(priority))
        unit = int(eligible[best])
        keeps[unit] = nxt[unit]
        current = float(predicted[best])
        steps.append(PathStep(unit=unit, keep=int(nxt[unit]), predicted_ms=current))
    return GreedyPath(tuple(int(u.keep) for u in plan.units), tuple(steps), start_ms)


def plan_at(plan: PruningPlan, path: GreedyPath, point: int) -> PruningPlan:
    """The hinge plan narrowed to the path's ``point`` (reasons record the budget's cuts)."""
    units = []
    for unit, keep in zip(plan.units, path.keeps_at(point), strict=True):
        if keep != unit.keep:
            unit = unit.narrowed(keep, f"latency budget: narrowed from {unit.keep} to {keep}")
        units.append(unit)
    return plan.replace_units(units)


@dataclass(frozen=True)
class BudgetIteration:
    iteration: int
    role: str  # "hinge plan", "narrowest" or "search"
    path_point: int
    predicted_ms: float
    measured_ms: float
    channels_kept: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "role": self.role,
            "path_point": self.path_point,
            "predicted_ms": self.predicted_ms,
            "measured_ms": self.measured_ms,
            "measured_over_predicted": self.measured_ms / self.predicted_ms if self.predicted_ms > 0 else None,
            "channels_kept": self.channels_kept,
        }


@dataclass(frozen=True)
class BudgetResult:
    target: LatencyTarget
    plan: PruningPlan
    model: nn.Module = field(repr=False)
    measured_ms: float
    predicted_ms: float
    iterations: tuple[BudgetIteration, ...]
    path_length: int
    full_predicted_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_ms": self.target.latency_ms,
            "target_fps": self.target.fps,
            "measured_ms": self.measured_ms,
            "measured_fps": 1000.0 / self.measured_ms,
            "predicted_ms": self.predicted_ms,
            "unpruned_predicted_ms": self.full_predicted_ms,
            "greedy_path_points": self.path_length,
            "iterations": [it.to_dict() for it in self.iterations],
        }


def interpolate_point(path: GreedyPath, goal: float, slow: tuple[int, float], fast: tuple[int, float]) -> int:
    """The next path point to measure, strictly between a too-slow and a fast-enough measured point.

    ``slow``/``fast`` are (point, measured ms) with ``slow`` earlier on the path. The goal is placed
    by linear interpolation in *predicted* latency between the two measurements (regula falsi): the
    latency model only has to rank and space the points, not to be right in absolute terms. The
    result is kept strictly inside the bracket (the middle point if the interpolation lands on an
    end), so every measurement shrinks the bracket even when timings are noisy.
    """
    (i_slow, m_slow), (i_fast, m_fast) = slow, fast
    p_slow, p_fast = path.predicted(i_slow), path.predicted(i_fast)
    if m_slow > m_fast and p_slow > p_fast:
        aim = p_fast + (goal - m_fast) * (p_slow - p_fast) / (m_slow - m_fast)
        point = path.first_meeting(aim)
        if point is not None and i_slow < point < i_fast:
            return point
    return (i_slow + i_fast) // 2


def _out_of_reach(target: LatencyTarget, floor_ms: float, floor_predicted: float) -> str:
    return (
        f"latency target {target.describe()} is out of reach: the narrowest plan the guards allow measured "
        f"{floor_ms:.2f} ms ({1000 / floor_ms:.1f} FPS; predicted {floor_predicted:.2f} ms). Relax min_keep / "
        "min_keep_fraction / round_to / overrides, or choose a slower target"
    )


def meet_latency_target(
    plan: PruningPlan,
    model: LatencyModel,
    target: LatencyTarget,
    *,
    build: Build,
    measure: Measure,
    settings: BudgetSettings = BudgetSettings(),
) -> BudgetResult:
    """Narrow ``plan`` until the built model measures at or under ``target`` (see the module docstring).

    ``build`` turns a plan into a pruned model (normally surgery on the teacher); ``measure`` returns
    a model's batch-1 latency in ms on the profiled device. Raises PruningError when even the
    narrowest plan the guards allow measures slower than the target, stating that latency.
    """
    path = greedy_path(plan, model)
    goal = target.latency_ms
    upper = goal * (1 + settings.tolerance)
    lower = goal * (1 - settings.slack)
    measured: dict[int, float] = {}
    models: dict[int, nn.Module] = {}
    iterations: list[BudgetIteration] = []

    def probe(point: int, role: str) -> float:
        candidate = plan_at(plan, path, point)
        pruned = build(candidate)
        ms = float(measure(pruned))
        measured[point] = ms
        if ms <= upper:
            models[point] = pruned  # only plans that meet the target are kept in memory
        iterations.append(
            BudgetIteration(
                iteration=len(iterations) + 1,
                role=role,
                path_point=point,
                predicted_ms=path.predicted(point),
                measured_ms=ms,
                channels_kept=sum(u.keep * len(u.layers) for u in candidate.units),
            )
        )
        log.info(
            "budget %s (path point %d/%d): predicted %.2f ms, measured %.2f ms (target %s)",
            role, point, len(path) - 1, path.predicted(point), ms, target.describe(),
        )
        return ms

    floor = len(path) - 1
    if probe(0, "hinge plan") > upper:
        if floor == 0 or probe(floor, "narrowest") > upper:
            raise PruningError(_out_of_reach(target, measured[floor], path.predicted(floor)))
        while len(iterations) < settings.max_iterations:
            slow = max((i, ms) for i, ms in measured.items() if ms > upper)  # latest too-slow point
            fast = min((i, ms) for i, ms in measured.items() if ms <= upper)  # earliest fast-enough point
            if fast[0] - slow[0] <= 1 or lower <= fast[1]:
                break  # adjacent points, or the best plan so far is already close enough to the target
            probe(interpolate_point(path, goal, slow, fast), "search")
    # The least-pruned plan that met the target: the earliest such point on the path.
    chosen = min(point for point, ms in measured.items() if ms <= upper)
    return BudgetResult(
        target=target,
        plan=plan_at(plan, path, chosen),
        model=models[chosen],
        measured_ms=measured[chosen],
        predicted_ms=path.predicted(chosen),
        iterations=tuple(iterations),
        path_length=len(path),
        full_predicted_ms=model.full_ms,
    )
