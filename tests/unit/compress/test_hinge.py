"""Automatic hinge detection on synthetic magnitude curves, and every guard."""

import numpy as np
import pytest

from decig.compress.hinge import (
    HingeSettings,
    chord_distance,
    cluster_keep,
    decide_keep,
    detect_hinge,
    guard_floor,
    kneedle_keep,
    round_up,
)
from decig.core.errors import ConfigError, PruningError

def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def condensed(alive: int, dead: int, *, alive_decades=0.3, dead_level=-3.0, dead_decades=0.3, shuffle=True, seed=0):
    """``alive`` channels within ``alive_decades`` below 1, ``dead`` ones around 10**dead_level."""
    r = rng(seed)
    values = np.concatenate(
        [10 ** r.uniform(-alive_decades, 0, alive), 10 ** (dead_level + r.uniform(-dead_decades, 0, dead))]
    )
    return r.permutation(values) if shuffle else values


@pytest.mark.parametrize("method", ["kneedle", "cluster"])
def test_obvious_knee_40_large_24_tiny(method):
    result = detect_hinge(condensed(40, 24), HingeSettings(method=method))
    assert result.keep == 40
    assert result.clear
    assert result.contrast_decades > 2.5


@pytest.mark.parametrize("method", ["kneedle", "cluster"])
@pytest.mark.parametrize("alive, dead", [(5, 59), (62, 2), (100, 412), (1, 63)])
def test_knee_found_near_either_end(method, alive, dead):
    assert detect_hinge(condensed(alive, dead), HingeSettings(method=method)).keep == alive


def test_default_kneedle_is_not_fooled_by_a_wide_live_group():
    # 61 live channels spread over 2.5 decades, 3 dead ones far below. 2-means trades group sizes
    # against spreads and splits the live group; the chord distance follows the curve's shape.
    mags = rng().permutation(np.concatenate([10 ** np.linspace(0, -2.5, 61), 10 ** np.linspace(-4, -4.2, 3)]))
    assert detect_hinge(mags, HingeSettings()).keep == 61
    assert detect_hinge(mags, HingeSettings(method="cluster")).keep < 50
    assert HingeSettings().method == "kneedle"


@pytest.mark.parametrize("method", ["kneedle", "cluster"])
def test_flat_curve_keeps_everything(method):
    mags = rng().uniform(0.5, 1.0, 64)  # every channel alive, as without the penalty
    decision = decide_keep(mags, HingeSettings(method=method))
    assert not decision.hinge.clear
    assert decision.hinge.contrast_decades < 1.0
    assert decision.keep == 64
    assert "no clear knee" in decision.reasons[0] and "flat" in decision.reasons[0]


@pytest.mark.parametrize("method", ["kneedle", "cluster"])
def test_log_linear_decay_has_no_knee(method):
    # Falls 3 decades at a constant rate: large contrast at any cut but no bend, so no cut.
    mags = 10 ** (np.linspace(0, -3, 64) + rng().normal(0, 0.03, 64))
    decision = decide_keep(mags, HingeSettings(method=method))
    assert decision.hinge.knee_strength < 0.1
    assert decision.keep == 64
    assert "no bend" in decision.reasons[0]


def test_constant_and_all_zero_layers_keep_everything():
    for mags in (np.ones(16), np.zeros(16)):
        decision = decide_keep(mags, HingeSettings())
        assert decision.keep == 16 and not decision.hinge.clear


def test_exact_zeros_do_not_distort_the_curve():
    # A dead channel of exactly 0 would be log(0) = -inf; the floor keeps it a normal dead channel.
    mags = np.concatenate([condensed(40, 23, shuffle=False), [0.0]])
    assert detect_hinge(mags, HingeSettings()).keep == 40


def test_linear_scale_option():
    mags = condensed(40, 24)
    result = detect_hinge(mags, HingeSettings(log_scale=False))
    assert result.method == "kneedle" and 1 <= result.keep <= 64


def test_tiny_layers():
    assert decide_keep([1.0], HingeSettings()).keep == 1
    assert decide_keep([1.0, 1e-6], HingeSettings()).keep == 2  # two points: no interior knee
    assert kneedle_keep(np.array([0.0, -5.0])) == (2, 0.0)


def test_kneedle_and_cluster_on_a_perfect_step():
    curve = np.array([0.0] * 10 + [-4.0] * 6)  # log10 magnitudes, sorted descending
    assert kneedle_keep(curve)[0] == 10
    keep, eta = cluster_keep(curve)
    assert keep == 10 and eta == pytest.approx(1.0)
    distance = chord_distance(curve)
    assert distance[0] == pytest.approx(0) and distance[-1] == pytest.approx(0)


# ---- guards ------------------------------------------------------------------------------------


def test_min_keep_guard():
    decision = decide_keep(condensed(3, 61), HingeSettings(min_keep=8))
    assert decision.hinge.keep == 3
    assert decision.keep == 8
    assert any("min_keep=8" in r for r in decision.reasons)


def test_min_keep_fraction_guard():
    assert decide_keep(condensed(3, 61), HingeSettings(min_keep_fraction=0.25)).keep == 16
    assert guard_floor(10, HingeSettings(min_keep_fraction=0.25)) == 3  # ceil(2.5)
    assert guard_floor(4, HingeSettings(min_keep=16)) == 4  # capped at the width


def test_round_to_rounds_up_and_caps_at_width():
    assert decide_keep(condensed(40, 24), HingeSettings(round_to=16)).keep == 48
    assert decide_keep(condensed(40, 24), HingeSettings(round_to=32)).keep == 64
    assert decide_keep(condensed(40, 20), HingeSettings(round_to=32)).keep == 60  # cap, not 64
    assert round_up(33, 8, 1000) == 40 and round_up(32, 8, 1000) == 32 and round_up(33, 8, 35) == 35


def test_override_wins_over_hinge_and_guards():
    settings = HingeSettings(min_keep=32, round_to=16)
    decision = decide_keep(condensed(40, 24), settings, override=7, name="layer")
    assert decision.keep == 7 and decision.overridden
    assert decision.hinge.keep == 40  # still reported, for the plot and the review
    with pytest.raises(PruningError, match=r"override for 'layer' keeps 65 channels; it must be in 1\.\.64"):
        decide_keep(condensed(40, 24), settings, override=65, name="layer")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "elbow"}, "unknown hinge method"),
        ({"min_keep": 0}, "min_keep must be an integer >= 1"),
        ({"min_keep": True}, "min_keep must be an integer"),
        ({"min_keep_fraction": 1.5}, "min_keep_fraction"),
        ({"round_to": 0}, "round_to"),
        ({"floor_ratio": 0.0}, "floor_ratio"),
        ({"min_contrast_decades": -1.0}, "min_contrast_decades"),
        ({"min_knee_strength": 2.0}, "min_knee_strength"),
        ({"overrides": {"a": 0}}, r"overrides\['a'\]"),
    ],
)
def test_settings_are_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        HingeSettings(**kwargs)


def test_bad_magnitudes_are_refused():
    for bad in ([], [1.0, -0.5], [1.0, float("nan")]):
        with pytest.raises(PruningError):
            detect_hinge(bad, HingeSettings())
