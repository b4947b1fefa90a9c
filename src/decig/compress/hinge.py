"""Automatic "hinge" detection: how many channels of one layer to keep (DECIG Stage II).

After Stage I, a layer's per-channel magnitudes sorted in descending order look like a plateau of
live channels, a sharp drop, and a floor of near-zero channels (paper Fig. 2(d)). The paper picks
the drop ("hinge") by eye; here it is found automatically and a person can override it.

Both methods work on **log10 magnitudes** by default. On a linear axis the near-zero channels are
all squashed onto 0 and any spread among the live channels dominates the curve; on a log axis
"near zero" and "alive" become two well separated levels whatever the absolute scale of the layer.
Magnitudes below ``floor_ratio`` × the layer maximum are clipped to that floor first: exact zeros
would otherwise be -inf and a single 1e-30 channel would stretch the normalised curve so far that
every other channel looks alike.

Methods (both return the number of channels to keep, ``1 <= keep < n``, and a score):

* ``kneedle`` (default): Satopää et al. 2011 on the normalised curve — the point with the largest
  distance (vertical, in normalised units) to the chord joining the first and last points. For a
  plateau→cliff→floor curve the largest positive distance sits on the last live channel and the
  largest negative one on the first dead channel; both name the same cut, so the point with the
  largest *absolute* distance is taken and converted to a keep count accordingly. The score is
  that distance (0 = a straight line, no knee; near 1 = a step at an extreme position).
* ``cluster``: the optimal split of the log magnitudes into two groups (exact 1-D 2-means, which is
  Otsu's threshold). Score: Otsu's separability η = between-class / total variance (0.75 for a
  uniform spread, → 1 for two tight, separated groups).

Why kneedle is the default: it follows the *shape* the paper describes (the inclination point of
the sorted curve) and is insensitive to how many channels sit in each group, whereas 2-means
trades the two groups' sizes against their spreads — with a wide live group and a few dead
channels it may split the live group instead (see ``tests/unit/compress/test_hinge.py``).

"No clear knee" is decided the same way for both methods, on the log curve, by two numbers of the
cut; a layer failing either keeps every channel rather than being cut arbitrarily:

* **contrast**: mean log10 magnitude of the kept channels minus that of the dropped ones, in decades
  (1.0 = dropped channels are on average 10× weaker). Catches *flat* curves: a layer trained without
  the penalty has every channel alive (≈ 0.1–0.5 decades), and min-max normalisation would
  otherwise blow its noise up into a "knee".
* **knee strength**: the normalised distance to the chord at the cut (the kneedle score, measured
  at whichever cut the method chose). Catches *straight* curves: magnitudes falling log-linearly
  over decades have a large contrast at any cut but no inclination point (strength ≈ 0, while the
  hinges of condensed layers measure 0.2–0.8), so any cut would be arbitrary.

Guards are applied after detection, in this order: no clear knee → keep all; at least ``min_keep``
and ``ceil(min_keep_fraction × width)`` channels; round up to a multiple of ``round_to`` (capped at
the width). A manual override (``overrides[layer] = keep``) replaces the whole decision: a person
who wrote a number meant exactly that number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from decig.core.errors import ConfigError, PruningError

METHODS = ("kneedle", "cluster")
DEFAULT_METHOD = "kneedle"


@dataclass(frozen=True)
class HingeSettings:
    """How hinges are found and which guards apply (the ``prune:`` config section maps onto this).

    ``overrides`` maps a layer name to the exact number of channels to keep; for a coupled group
    (e.g. the ResNet trunk) any member's name addresses the whole group.
    """

    method: str = DEFAULT_METHOD
    log_scale: bool = True
    floor_ratio: float = 1e-6
    min_contrast_decades: float = 1.0
    min_knee_strength: float = 0.1
    min_keep: int = 1
    min_keep_fraction: float = 0.0
    round_to: int = 1
    overrides: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown hinge method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not (0.0 < self.floor_ratio < 1.0):
            raise ConfigError(f"floor_ratio must be in (0, 1), got {self.floor_ratio!r}")
        if not (math.isfinite(self.min_contrast_decades) and self.min_contrast_decades >= 0):
            raise ConfigError(f"min_contrast_decades must be finite and >= 0, got {self.min_contrast_decades!r}")
        if not (0.0 <= self.min_knee_strength <= 1.0):
            raise ConfigError(f"min_knee_strength must be in [0, 1], got {self.min_knee_strength!r}")
        _check_int("min_keep", self.min_keep, minimum=1)
        if not (0.0 <= self.min_keep_fraction <= 1.0):
            raise ConfigError(f"min_keep_fraction must be in [0, 1], got {self.min_keep_fraction!r}")
        _check_int("round_to", self.round_to, minimum=1)
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(f"overrides must map layer names to channel counts, got {self.overrides!r}")
        for name, keep in self.overrides.items():
            _check_int(f"overrides[{name!r}]", keep, minimum=1)
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "log_scale": self.log_scale,
            "floor_ratio": self.floor_ratio,
            "min_contrast_decades": self.min_contrast_decades,
            "min_knee_strength": self.min_knee_strength,
            "min_keep": self.min_keep,
            "min_keep_fraction": self.min_keep_fraction,
            "round_to": self.round_to,
            "overrides": dict(self.overrides),
        }


def _check_int(name: str, value: object, *, minimum: int) -> None:
    # bool is an int subclass; `True` as a channel count is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class HingeResult:
    """What detection found on one sorted curve, before any guard.

    ``keep`` is the detected cut (channels before the hinge); ``score`` the method's own confidence
    (kneedle distance or Otsu η); ``clear`` says whether the cut passes the contrast and knee-strength
    tests. When it does not, the guards keep every channel whatever ``keep`` says.
    """

    method: str
    keep: int
    score: float
    contrast_decades: float
    knee_strength: float
    clear: bool


@dataclass(frozen=True)
class KeepDecision:
    """The final channel count of one layer (or coupled group) and how it was reached."""

    width: int
    keep: int
    hinge: HingeResult
    overridden: bool
    reasons: tuple[str, ...]


def sorted_descending(magnitudes: Sequence[float] | np.ndarray) -> np.ndarray:
    """Magnitudes as float64 sorted from largest to smallest; refuses negative or non-finite values."""
    values = np.asarray(magnitudes, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise PruningError("a layer with no channels has no hinge")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise PruningError("channel magnitudes must be finite and >= 0 (per-channel L1 norms)")
    return np.sort(values)[::-1]


def log_curve(sorted_mags: np.ndarray, floor_ratio: float) -> np.ndarray:
    """log10 of the magnitudes, clipped below at ``floor_ratio`` × max (all-zero layers are flat)."""
    top = float(sorted_mags[0])
    if top <= 0:
        return np.zeros_like(sorted_mags)
    return np.log10(np.maximum(sorted_mags, top * floor_ratio))


def chord_distance(curve: np.ndarray) -> np.ndarray:
    """Per point, the normalised curve minus the chord from its first to its last point.

    Both axes are min-max normalised, so for a descending curve the chord runs from (0, 1) to
    (1, 0) and the distance of point i is ``y_i - (1 - x_i)``. All zeros for a constant curve.
    """
    n = curve.size
    span = float(curve[0] - curve[-1])
    if n < 2 or span <= 0:
        return np.zeros(n)
    x = np.arange(n, dtype=np.float64) / (n - 1)
    return (curve - curve[-1]) / span - (1.0 - x)


def knee_strength(curve: np.ndarray, keep: int) -> float:
    """How sharp a bend the cut before channel ``keep`` sits on (0 = on the chord, or nothing cut).

    The cut lies between the last kept and the first dropped point, so the larger of the last kept
    point's height above the chord and the first dropped point's depth below it is taken.
    """
    if keep >= curve.size:
        return 0.0
    distance = chord_distance(curve)
    return float(max(distance[keep - 1], -distance[keep], 0.0))


def kneedle_keep(curve: np.ndarray) -> tuple[int, float]:
    """(keep, score) at the largest |distance| to the chord of a descending curve.

    A positive extreme is the last point of a plateau before a drop (keep it: keep = i + 1); a
    negative one is the first point of a floor after a drop (keep = i). Ties go to the larger keep,
    which prunes less. Curves of fewer than 3 points have no interior point and keep everything.
    """
    n = curve.size
    if n < 3:
        return n, 0.0
    distance = chord_distance(curve)
    magnitude = np.abs(distance)
    best = float(magnitude.max())
    if best <= 0:
        return n, 0.0
    candidates = np.flatnonzero(magnitude >= best - 1e-12)
    keeps = [int(i) + 1 if distance[i] > 0 else int(i) for i in candidates]
    return max(keeps), best


def cluster_keep(curve: np.ndarray) -> tuple[int, float]:
    """(keep, η): the top-``keep`` group of the exact two-group split minimising within-group variance.

    In one dimension the optimal 2-means partition of sorted data is a prefix/suffix split, so all
    n - 1 splits are scored in O(n) with prefix sums (Otsu's between-class variance).
    """
    n = curve.size
    total_var = float(np.var(curve))
    if n < 2 or total_var <= 0:
        return n, 0.0
    k = np.arange(1, n, dtype=np.float64)
    prefix = np.cumsum(curve)[:-1]
    mean_top = prefix / k
    mean_bottom = (curve.sum() - prefix) / (n - k)
    between = (k / n) * ((n - k) / n) * (mean_top - mean_bottom) ** 2
    best = float(between.max())
    candidates = np.flatnonzero(between >= best * (1 - 1e-12))
    return int(candidates.max()) + 1, min(1.0, best / total_var)


def contrast_decades(log_mags: np.ndarray, keep: int) -> float:
    """Mean log10 magnitude of the kept channels minus that of the dropped ones (0 when none dropped)."""
    if keep >= log_mags.size:
        return 0.0
    return float(log_mags[:keep].mean() - log_mags[keep:].mean())


def detect_hinge(magnitudes: Sequence[float] | np.ndarray, settings: HingeSettings) -> HingeResult:
    """Find the hinge of one layer from its per-channel magnitudes (any order)."""
    ordered = sorted_descending(magnitudes)
    logs = log_curve(ordered, settings.floor_ratio)
    curve = logs if settings.log_scale else ordered
    if settings.method == "kneedle":
        keep, score = kneedle_keep(curve)
    else:
        keep, score = cluster_keep(curve)
    contrast = contrast_decades(logs, keep)
    strength = knee_strength(logs, keep)
    clear = (
        keep < ordered.size
        and contrast >= settings.min_contrast_decades
        and strength >= settings.min_knee_strength
    )
    return HingeResult(settings.method, keep, score, contrast, strength, clear)


def _why_unclear(hinge: HingeResult, settings: HingeSettings, width: int) -> str:
    if hinge.keep >= width:
        return "the curve has no drop"
    problems = []
    if hinge.contrast_decades < settings.min_contrast_decades:
        problems.append(f"contrast {hinge.contrast_decades:.2f} < {settings.min_contrast_decades} decades: flat")
    if hinge.knee_strength < settings.min_knee_strength:
        problems.append(f"knee strength {hinge.knee_strength:.2f} < {settings.min_knee_strength}: no bend")
    return f"best cut at {hinge.keep}: " + ", ".join(problems)


def round_up(value: int, multiple: int, cap: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``, never above ``cap``."""
    return min(cap, -(-value // multiple) * multiple)


def guard_floor(width: int, settings: HingeSettings) -> int:
    """The fewest channels the guards allow for a layer of ``width`` channels (before rounding)."""
    return min(width, max(settings.min_keep, math.ceil(settings.min_keep_fraction * width - 1e-9), 1))


def decide_keep(
    magnitudes: Sequence[float] | np.ndarray,
    settings: HingeSettings,
    *,
    override: int | None = None,
    name: str = "<layer>",
) -> KeepDecision:
    """Detect the hinge and apply the guards (or the override) for one layer or coupled group."""
    hinge = detect_hinge(magnitudes, settings)
    width = int(np.asarray(magnitudes).size)
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int) or not 1 <= override <= width:
            raise PruningError(f"override for {name!r} keeps {override!r} channels; it must be in 1..{width}")
        return KeepDecision(width, override, hinge, True, (f"manual override: keep {override} of {width}",))
    reasons = []
    if hinge.clear:
        keep = hinge.keep
        reasons.append(
            f"hinge at {keep} of {width} ({hinge.method}, score {hinge.score:.2f}, "
            f"contrast {hinge.contrast_decades:.1f} decades, knee strength {hinge.knee_strength:.2f})"
        )
    else:
        keep = width
        reasons.append(f"no clear knee ({_why_unclear(hinge, settings, width)}): keep all {width}")
    floor = guard_floor(width, settings)
    if keep < floor:
        keep = floor
        reasons.append(f"raised to {floor} by min_keep={settings.min_keep} / min_keep_fraction={settings.min_keep_fraction}")
    rounded = round_up(keep, settings.round_to, width)
    if rounded != keep:
        reasons.append(f"rounded up to {rounded} (multiple of {settings.round_to}, capped at width {width})")
        keep = rounded
    return KeepDecision(width, keep, hinge, False, tuple(reasons))
