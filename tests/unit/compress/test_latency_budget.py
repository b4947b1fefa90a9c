"""Latency budget: the width structure and latency model, the greedy path, and the measure-and-correct loop."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from decig.compress.budget import (
    BudgetSettings,
    LatencyTarget,
    interpolate_point,
    greedy_path,
    meet_latency_target,
    plan_at,
    unit_floors,
)
from decig.compress.coupling import RESNET_TRUNK
from decig.compress.hinge import HingeSettings
from decig.compress.latency_measure import latency_model_from_profile, measure_ms
from decig.compress.latency_model import latency_model, width_structure
from decig.compress.plan import make_plan
from decig.compress.stats import channel_stats_from_model
from decig.compress.surgery import prune_generator
from decig.devices.profile import profile_model
from decig.core.errors import ConfigError, PruningError
from decig.evaluate.latency import Candidate, measure_latency
from decig.models import build_from_manifest, default_manifest


@pytest.fixture(autouse=True)
def _one_thread():
    # After the directory's 2-thread fixture: 1-thread timings stay stable on a shared machine.
    torch.set_num_threads(1)


def flat_stats(manifest, seed=0):
    """Every channel alive (no knee): the hinge plan keeps everything, the budget does the cutting."""
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0.5, 1.0, width) for name, width in manifest.widths.items() if name != manifest.final_layer}


def in_out_channels(manifest):
    model = build_from_manifest(manifest)
    out = {}
    for name, layer in model.named_modules():
        if isinstance(layer, nn.ConvTranspose2d):
            out[name] = (layer.weight.shape[0], layer.weight.shape[1])
        elif isinstance(layer, nn.Conv2d):
            out[name] = (layer.weight.shape[1], layer.weight.shape[0])
    return out


@pytest.mark.parametrize(
    "arch, overrides",
    [("unet_128", {"ngf": 8}), ("resnet_6blocks", {"ngf": 8, "input_size": 32, "use_dropout": True})],
)
def test_width_structure_predicts_real_channel_counts(arch, overrides):
    manifest = default_manifest(arch, **overrides)
    structure = width_structure(manifest)
    rng = np.random.default_rng(0)
    keeps = np.array([rng.integers(1, manifest.widths[u[0]] + 1) for u in structure.units], dtype=np.float64)
    pruned = manifest.with_widths({name: int(k) for unit, k in zip(structure.units, keeps) for name in unit})
    real = in_out_channels(pruned)
    ins, outs = structure.ins(keeps), structure.outs(keeps)
    for i, name in enumerate(structure.layers):
        assert (ins[i], outs[i]) == real[name], name
    assert structure.pixels[structure.layers.index(manifest.final_layer)] == manifest.input_size[0] * manifest.input_size[1]


def test_latency_model_scales_each_layer_by_its_in_and_out_channels():
    manifest = default_manifest("unet_32", ngf=8)  # down0 3->8, down1 8->16, ... up1 (16+16)->8, final 16->3
    structure = width_structure(manifest)
    layer_ms = {name: 1.0 for name in manifest.widths if name != manifest.final_layer}
    model = latency_model(structure, layer_ms, model_ms=len(layer_ms) + 4.0)
    full = structure.widths0.copy()
    assert model.predict(full) == pytest.approx(model.full_ms) == pytest.approx(len(layer_ms) + 4.0)
    down1, down2, up1 = "model.model.1.model.1", "model.model.1.model.3.model.1", "model.model.1.model.5"
    half = full.copy()
    half[[u[0] for u in structure.units].index(down1)] = 8  # down1: 16 -> 8 channels
    per_layer = model.per_layer_ms(half)
    assert per_layer[down1] == pytest.approx(0.5)  # its own outputs halve
    assert per_layer[down2] == pytest.approx(0.5)  # down2 reads down1
    assert per_layer[up1] == pytest.approx((8 + 16) / 32)  # up1 reads cat(down1, up2)
    assert per_layer["model.model.0"] == pytest.approx(1.0)  # upstream: unchanged
    volume = (structure.outs(half) * structure.pixels).sum() / (structure.out0 * structure.pixels).sum()
    assert model.predict(half) == pytest.approx(sum(per_layer.values()) + 4.0 * volume)


def test_latency_model_needs_every_prunable_layer():
    manifest = default_manifest("unet_32", ngf=8)
    structure = width_structure(manifest)
    with pytest.raises(PruningError, match="no entry for layer 'model.model.0'"):
        latency_model(structure, {}, 10.0)
    layer_ms = {name: 1.0 for name in manifest.widths}
    with pytest.raises(PruningError, match="'model.9'"):
        latency_model(structure, {**layer_ms, "model.9": 1.0}, 10.0)
    assert latency_model(structure, layer_ms, 1.0).rest_ms == 0.0  # a negative remainder is clipped


# ---- greedy path -------------------------------------------------------------------------------


def toy_model(manifest, heavy=None):
    structure = width_structure(manifest)
    layer_ms = {name: (10.0 if name == heavy else 1.0) for name in manifest.widths if name != manifest.final_layer}
    return latency_model(structure, layer_ms, model_ms=sum(layer_ms.values()) + 2.0)


def test_greedy_path_respects_guards_rounding_and_overrides():
    manifest = default_manifest("resnet_6blocks", ngf=8, input_size=32)
    settings = HingeSettings(min_keep=3, min_keep_fraction=0.25, round_to=4, overrides={"model.4": 10})
    plan = make_plan(flat_stats(manifest), manifest, settings)
    path = greedy_path(plan, toy_model(manifest))
    predicted = [path.predicted(i) for i in range(len(path))]
    assert all(b < a for a, b in zip(predicted, predicted[1:]))  # every step saves time
    end = plan_at(plan, path, len(path) - 1)
    floors = dict(zip((u.name for u in plan.units), unit_floors(plan)))
    for unit in end.units:
        if unit.name == "model.4":
            assert unit.keep == 10  # overridden: never narrowed
        else:
            assert unit.keep == floors[unit.name] == max(4, -(-unit.width // 4 // 4) * 4)
            assert unit.keep % 4 == 0
        assert len(unit.keep_indices) == unit.keep
    trunk = end.unit(RESNET_TRUNK)
    assert end.kept_widths()[trunk.layers[-1]] == trunk.keep  # coupled members move together
    assert any("latency budget: narrowed" in r for r in trunk.reasons)


def test_greedy_path_cuts_where_the_time_is_first():
    manifest = default_manifest("unet_32", ngf=8)
    plan = make_plan(flat_stats(manifest), manifest, HingeSettings())
    # The outermost down conv reads the fixed image, so its time only falls with its own outputs.
    for heavy in ("model.model.0", "model.model.1.model.5"):
        path = greedy_path(plan, toy_model(manifest, heavy=heavy))
        assert plan.units[path.steps[0].unit].name == heavy
        early = plan_at(plan, path, 10)
        fractions = {u.name: u.keep / u.width for u in early.units}
        assert min(fractions, key=fractions.get) == heavy  # cut deepest, though each cut there gets dearer


def test_greedy_path_drops_the_weakest_channels():
    manifest = default_manifest("unet_32", ngf=8)
    plan = make_plan(flat_stats(manifest), manifest, HingeSettings())
    path = greedy_path(plan, toy_model(manifest))
    step = path.steps[0]
    unit = plan.units[step.unit]
    narrowed = plan_at(plan, path, 1).units[step.unit]
    order = np.argsort(-np.asarray(unit.magnitudes), kind="stable")
    assert narrowed.keep_indices == tuple(sorted(int(i) for i in order[: narrowed.keep]))


def test_budget_narrows_within_a_persons_chosen_channels():
    manifest = default_manifest("unet_32", ngf=8)
    plan = make_plan(flat_stats(manifest), manifest, HingeSettings())
    unit = plan.units[0]
    weakest = tuple(sorted(int(i) for i in np.argsort(unit.magnitudes)[:6]))  # an edited, non-top choice
    edited = plan.replace_units([dataclasses.replace(unit, keep=6, keep_indices=weakest), *plan.units[1:]])
    path = greedy_path(edited, toy_model(manifest, heavy=unit.name))
    narrowed = plan_at(edited, path, len(path) - 1).units[0]
    assert narrowed.keep < 6 and set(narrowed.keep_indices) <= set(weakest)
    with pytest.raises(PruningError, match="cannot narrow"):
        narrowed.narrowed(narrowed.keep + 1, "widen")


# ---- measure-and-correct loop (fake timings) ---------------------------------------------------


class FakeBuilt(nn.Module):
    def __init__(self, plan):
        super().__init__()
        self.keeps = [u.keep for u in plan.units]


def fake_loop(timing, target_fraction, settings=BudgetSettings(), **hinge):
    """``timing(predicted, full)`` plays the machine: a systematic error of the latency model."""
    manifest = default_manifest("unet_128", ngf=8)
    plan = make_plan(flat_stats(manifest), manifest, HingeSettings(**hinge))
    model = toy_model(manifest)
    target = LatencyTarget(model.full_ms * target_fraction)
    result = meet_latency_target(
        plan,
        model,
        target,
        build=FakeBuilt,
        measure=lambda m: timing(model.predict(m.keeps), model.full_ms),
        settings=settings,
    )
    return target, result


def overhead(predicted, full):
    # Per-inference costs the per-layer model misses; exact at full width, as the real model is.
    return 0.8 * predicted + 0.2 * full


@pytest.mark.parametrize(
    "timing",
    [overhead, lambda predicted, full: 1.3 * predicted, lambda predicted, full: 0.6 * predicted + 0.2],
    ids=["fixed-overhead", "proportional", "pessimistic-model"],
)
def test_search_meets_the_target_whatever_the_model_error(timing):
    target, result = fake_loop(timing, target_fraction=0.5)
    roles = [it.role for it in result.iterations]
    assert roles[:2] == ["hinge plan", "narrowest"] and set(roles[2:]) <= {"search"}
    assert len(roles) <= BudgetSettings().max_iterations
    assert target.latency_ms * 0.85 <= result.measured_ms <= target.latency_ms * 1.05
    # The least-pruned plan that met the target: nothing earlier on the path was measured fast enough.
    chosen = result.iterations[[it.measured_ms for it in result.iterations].index(result.measured_ms)].path_point
    assert all(it.measured_ms > target.latency_ms * 1.05 for it in result.iterations if it.path_point < chosen)


def test_an_optimistic_model_is_corrected_by_measuring():
    target, result = fake_loop(overhead, target_fraction=0.5)
    assert result.predicted_ms < target.latency_ms * 0.8  # had to aim well below the target in predicted terms
    assert result.to_dict()["iterations"][-1]["measured_over_predicted"] > 1.2


def test_interpolate_point_stays_inside_the_bracket():
    manifest = default_manifest("unet_32", ngf=8)
    plan = make_plan(flat_stats(manifest), manifest, HingeSettings())
    path = greedy_path(plan, toy_model(manifest))
    last = len(path) - 1
    exact = path.predicted(last // 3)
    # Measurements equal to predictions: interpolation lands on the point predicted at the goal.
    assert interpolate_point(path, exact, (0, path.predicted(0)), (last, path.predicted(last))) == last // 3
    # Nonsense timings (fast point measured slower): bisect instead.
    assert interpolate_point(path, 5.0, (10, 4.0), (20, 6.0)) == 15
    assert 10 < interpolate_point(path, 1e-9, (10, 9.0), (12, 1.0)) < 12


def test_hinge_plan_that_already_meets_the_target_is_kept():
    target, result = fake_loop(lambda predicted, full: predicted, target_fraction=1.0)
    assert [(it.role, it.path_point) for it in result.iterations] == [("hinge plan", 0)]
    assert all(u.keep == u.width for u in result.plan.units)


def test_infeasible_target_reports_the_best_achievable():
    with pytest.raises(PruningError, match=r"out of reach: the narrowest plan the guards allow measured \d+\.\d+ ms \(\d+\.\d FPS; predicted"):
        fake_loop(lambda predicted, full: predicted, target_fraction=0.2, min_keep_fraction=0.5)


@pytest.mark.parametrize(
    "spec, ms",
    [({"fps": 50}, 20.0), ({"latency_ms": 12.5}, 12.5)],
)
def test_target_parsing(spec, ms):
    assert LatencyTarget.parse(spec).latency_ms == pytest.approx(ms)


@pytest.mark.parametrize("spec", [{}, {"fps": 10, "latency_ms": 5}, {"fps": 0}, {"fps": True}, {"latency_ms": -1}, {"speed": 3}])
def test_bad_targets(spec):
    with pytest.raises(ConfigError):
        LatencyTarget.parse(spec)


def test_budget_settings_validation():
    with pytest.raises(ConfigError):
        BudgetSettings(max_iterations=0)
    with pytest.raises(ConfigError):
        BudgetSettings(tolerance=1.5)


# ---- the real thing: profile, predict, prune, measure ------------------------------------------


@pytest.fixture(scope="module")
def profiled_unet():
    torch.set_num_threads(1)
    # ngf 32: large enough that half its latency lies well above the eager floor of a tiny U-Net
    # (~5 ms at 128x128 here, set by per-module dispatch rather than by channels).
    manifest = default_manifest("unet_128", ngf=32)
    model = build_from_manifest(manifest).eval()
    shape = (1, 3, *manifest.input_size)
    profile = profile_model(model, shape, "cpu", threads=1, warmup=2, repeats=10, arch=manifest.to_dict())
    full_ms = measure_ms(model, shape, threads=1, repeats=15)
    return manifest, model, profile, full_ms


def test_measured_latency_meets_the_target(profiled_unet):
    manifest, model, profile, full_ms = profiled_unet
    shape = (1, 3, *manifest.input_size)
    plan = make_plan(channel_stats_from_model(model), manifest, HingeSettings(round_to=4))
    assert all(u.keep == u.width for u in plan.units)  # untrained weights: no knee anywhere
    target = LatencyTarget(0.5 * full_ms)
    result = meet_latency_target(
        plan,
        latency_model_from_profile(manifest, profile, full_ms),
        target,
        build=lambda p: prune_generator(model, manifest, p)[0],
        measure=lambda m: measure_ms(m, shape, threads=1, repeats=15),
    )
    assert result.measured_ms <= target.latency_ms * 1.10
    # Re-timed against the unpruned model, interleaved: the ratio holds even when a busy machine
    # shifts absolute times between measurements (ENVIRONMENT.md), so the tolerance is generous.
    report = measure_latency(
        [Candidate("full", model, shape), Candidate("pruned", result.model, shape)],
        baseline="full", backends=["eager"], threads=1, repeats=15,
    )
    assert report.get("pruned", "eager").speedup_vs_baseline >= 2 / 1.3
    assert all(u.keep % 4 == 0 for u in result.plan.units)
    assert len(result.iterations) >= 1


def test_an_impossible_target_is_refused_with_the_best_measured(profiled_unet):
    manifest, model, profile, full_ms = profiled_unet
    shape = (1, 3, *manifest.input_size)
    plan = make_plan(channel_stats_from_model(model), manifest, HingeSettings(min_keep_fraction=0.5))
    with pytest.raises(PruningError, match="narrowest plan the guards allow measured") as err:
        meet_latency_target(
            plan,
            latency_model_from_profile(manifest, profile, full_ms),
            LatencyTarget(0.05 * full_ms),
            build=lambda p: prune_generator(model, manifest, p)[0],
            measure=lambda m: measure_ms(m, shape, threads=1, repeats=10),
        )
    assert "FPS" in str(err.value)


def test_profiles_that_do_not_describe_the_model_are_refused(profiled_unet):
    manifest, model, profile, full_ms = profiled_unet
    with pytest.raises(PruningError, match="counts macs"):
        latency_model_from_profile(manifest, dataclasses.replace(profile, unit="macs"), full_ms)
    with pytest.raises(PruningError, match="measured with input"):
        latency_model_from_profile(manifest, dataclasses.replace(profile, input_shape=(1, 3, 256, 256)), full_ms)
    with pytest.raises(PruningError, match="profile the unpruned"):
        latency_model_from_profile(default_manifest("unet_128", ngf=16), profile, full_ms)
