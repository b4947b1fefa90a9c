"""The proximal L1 step and its budget-limited variant (pure functions)."""

from __future__ import annotations

import pytest
import torch

from decig.coronet.proximal import auto_growth, choose_zeroed, soft_threshold


def test_soft_threshold_zeros_exactly_the_entries_within_the_threshold_and_shrinks_the_rest() -> None:
    torch.manual_seed(0)
    z = torch.randn(1000)
    t = 0.3
    out = soft_threshold(z, t)
    below = z.abs() <= t
    assert below.any() and (~below).any()
    assert torch.equal(out[below], torch.zeros(int(below.sum())))  # exactly zero, not merely small
    assert (out[~below] != 0).all()
    assert torch.allclose(out[~below].abs(), z[~below].abs() - t)
    assert torch.equal(torch.sign(out[~below]), torch.sign(z[~below]))  # never flips a sign
    assert torch.equal(soft_threshold(z, 0.0), z)


def test_soft_threshold_does_not_modify_its_input_and_refuses_negative_thresholds() -> None:
    z = torch.tensor([0.5, -0.1, 2.0])
    before = z.clone()
    soft_threshold(z, 0.2)
    assert torch.equal(z, before)
    with pytest.raises(ValueError, match=">= 0"):
        soft_threshold(z, -0.1)


def _count_cost(counts: dict[str, int]) -> float:
    return float(sum(counts.values()))


def test_choose_zeroed_takes_all_candidates_while_the_budget_allows() -> None:
    latents = {"a": torch.tensor([0.05, 0.5, 0.01, 1.0]), "b": torch.tensor([0.02, 0.9])}
    active = {g: torch.ones_like(z, dtype=torch.bool) for g, z in latents.items()}
    new, reached = choose_zeroed(latents, active, 0.1, _count_cost, budget=1.0)
    assert not reached
    assert new["a"].tolist() == [False, True, False, True] and new["b"].tolist() == [False, True]
    assert active["a"].all()  # the input masks are not modified


def test_choose_zeroed_stops_at_the_budget_smallest_first() -> None:
    latents = {"a": torch.tensor([0.05, 0.5, 0.01, 1.0]), "b": torch.tensor([0.02, 0.9])}
    active = {g: torch.ones_like(z, dtype=torch.bool) for g, z in latents.items()}
    new, reached = choose_zeroed(latents, active, 0.1, _count_cost, budget=4.0)
    assert reached
    # Six channels, budget four: the two smallest candidates (0.01 in a, 0.02 in b) go, 0.05 stays.
    assert new["a"].tolist() == [True, True, False, True] and new["b"].tolist() == [False, True]


def test_choose_zeroed_keeps_min_keep_channels_per_group() -> None:
    latents = {"a": torch.tensor([0.01, 0.02, 0.03])}
    active = {"a": torch.ones(3, dtype=torch.bool)}
    new, reached = choose_zeroed(latents, active, float("inf"), _count_cost, budget=0.0, min_keep=2)
    assert not reached and new["a"].tolist() == [False, True, True]


@pytest.mark.parametrize(("threshold0", "steps"), [(5e-4, 22), (1e-4, 500), (0.01, 10)])
def test_auto_growth_makes_the_thresholds_sum_to_the_latent_scale(threshold0: float, steps: int) -> None:
    g = auto_growth(threshold0, steps)
    assert g > 1.0
    assert sum(threshold0 * g**k for k in range(steps)) == pytest.approx(1.0, rel=1e-9)


def test_auto_growth_is_one_when_constant_thresholds_suffice_and_refuses_nonsense() -> None:
    assert auto_growth(0.2, 10) == 1.0
    with pytest.raises(ValueError, match="positive threshold"):
        auto_growth(0.0, 10)
