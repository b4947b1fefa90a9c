"""The proximal operator of the L1 norm, and a budget-limited variant of it (pure functions).

Minimising ``f(z) + λ‖z‖₁`` by proximal gradient alternates a gradient step on ``f`` (the
optimizer's) with ``prox_{tλ}(z) = sign(z) · max(|z| − tλ, 0)``: every entry moves ``tλ`` towards
zero and entries within ``tλ`` of zero become *exactly* zero. Exact zeros are what makes the latent
vectors a pruning handle (a subgradient step would only make them small).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor


def soft_threshold(z: Tensor, threshold: float) -> Tensor:
    """``sign(z) · max(|z| − threshold, 0)``; a new tensor, ``z`` is untouched."""
    if threshold < 0:
        raise ValueError(f"the soft threshold must be >= 0, got {threshold}")
    return torch.sign(z) * torch.clamp(z.abs() - threshold, min=0.0)


def choose_zeroed(
    latents: Mapping[str, Tensor],
    active: Mapping[str, Tensor],
    threshold: float,
    cost_of: Callable[[Mapping[str, int]], float],
    budget: float,
    min_keep: int = 1,
    slack: float = 0.02,
) -> tuple[dict[str, Tensor], bool]:
    """Which active entries the proximal step may zero without overshooting the cost budget.

    ``active[g]`` is a bool mask of the still-present channels of group ``g``; ``cost_of`` maps the
    kept channel count of every group to a cost. Candidates are the active entries with
    ``|z| <= threshold``. All of them are zeroed when the cost stays above ``budget``; otherwise
    the smallest ones are zeroed one by one until the cost reaches the budget, and the second
    return value says the budget was reached. A channel whose removal would land more than
    ``slack`` (relative) below the budget is skipped in favour of later, cheaper ones, so the
    budget is met closely even when channels differ a lot in cost; only if none lands within the
    slack is the one landing nearest taken. A group never drops below ``min_keep`` channels.
    Returns the new active masks.
    """
    new_active = {g: mask.clone() for g, mask in active.items()}
    counts = {g: int(mask.sum()) for g, mask in active.items()}
    candidates: list[tuple[float, str, int]] = []
    for g, z in latents.items():
        hit = (z.abs() <= threshold) & active[g]
        for index in torch.nonzero(hit).flatten().tolist():
            candidates.append((float(z[index].abs()), g, index))
    if cost_of(counts) <= budget:
        return new_active, True
    candidates.sort()
    reached = False
    closest: tuple[float, str, int] | None = None  # the crossing candidate landing nearest the budget
    for _, g, index in candidates:
        if counts[g] <= min_keep:
            continue
        counts[g] -= 1
        after = cost_of(counts)
        if after > budget or after >= budget * (1.0 - slack):
            new_active[g][index] = False
            if after <= budget:
                reached = True
                break
            continue
        # Removing this channel would undershoot the budget by more than the slack (a wide channel,
        # e.g. of the ResNet trunk, late in the order): skip it and try the smaller ones after it.
        counts[g] += 1
        if closest is None or after > closest[0]:
            closest = (after, g, index)
    if not reached and closest is not None:
        _, g, index = closest
        new_active[g][index] = False
        reached = True
    return new_active, reached


def auto_growth(threshold0: float, steps: int, total: float = 1.0) -> float:
    """The per-step factor g for which thresholds ``threshold0 · g^k`` (k < steps) sum to ``total``.

    With latents initialised to 1, a schedule whose cumulative threshold reaches 1 by the deadline
    can prune any channel whose latent the gradient does not defend, whatever the run length: the
    same config then behaves alike for a 50-step smoke run and a 5000-step run. 1 when constant
    thresholds already suffice.
    """
    if threshold0 <= 0 or steps < 1:
        raise ValueError(f"need a positive threshold and at least one step, got {threshold0}, {steps}")

    def cumulative(g: float) -> float:
        return threshold0 * steps if g == 1.0 else threshold0 * (g**steps - 1.0) / (g - 1.0)

    if cumulative(1.0) >= total:
        return 1.0
    low, high = 1.0, 2.0
    while cumulative(high) < total:
        low, high = high, high * 2.0
    for _ in range(100):  # bisection; cumulative() is increasing in g
        mid = 0.5 * (low + high)
        low, high = (mid, high) if cumulative(mid) < total else (low, mid)
    return high
