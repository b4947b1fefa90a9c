"""The controller of the sparsification: proximal L1 steps until the target compression ratio.

After every generator optimizer step :meth:`Sparsifier.after_step` applies the proximal operator
of ``λ‖z‖₁`` with threshold ``lr_latent · λ`` to every prunable latent. Control:

* **Target.** Before entries are zeroed, the cost of the resulting architecture is estimated
  (:mod:`decig.coronet.budget`); if zeroing all of them would go below ``target_ratio`` of the full
  cost, only the smallest are zeroed, exactly up to the target, and sparsification stops. So the
  target is met from above to within one channel, never overshot by a large step.
* **Schedule.** λ grows geometrically (``× growth`` per step) while the target is not met: early
  steps barely touch the latents (the generator learns first), later ones prune decisively. By
  default the stage picks ``growth`` with :func:`~decig.coronet.proximal.auto_growth`, so the
  thresholds add up to the latents' initial magnitude by the deadline, for any run length.
* **Deadline.** If the target is still not met at ``sparsify_until`` of the steps, the remaining
  cut is made at once by latent magnitude (smallest first), and the rest of the run trains the
  compact architecture.

Pruned channels stay pruned (monotone masks): with Adam's momentum a zeroed latent would
otherwise be pushed back to non-zero on the next step and oscillate around the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from decig.coronet.budget import CostModel
from decig.coronet.hypernet import CoroNetGenerator, _key
from decig.coronet.proximal import choose_zeroed, soft_threshold


class Sparsifier:
    def __init__(
        self,
        generators: Mapping[str, CoroNetGenerator],
        costs: Mapping[str, CostModel],
        *,
        target_ratio: float,
        strength: float,
        growth: float,
        deadline_step: int,
        min_keep: int = 1,
    ) -> None:
        self.generators = dict(generators)
        self.costs = dict(costs)
        self.target_ratio = target_ratio
        self.strength = strength
        self.growth = growth
        self.deadline_step = deadline_step
        self.min_keep = min_keep
        self.step = 0
        self.reached: dict[str, bool] = {name: False for name in self.generators}
        self.reached_at: dict[str, int | None] = {name: None for name in self.generators}
        self.forced = False

    @property
    def done(self) -> bool:
        return all(self.reached.values())

    def counts(self, name: str) -> dict[str, int]:
        gen = self.generators[name]
        return {g: int(gen.mask(g).sum()) for g in gen.layout.prunable_groups}

    def ratio(self, name: str) -> float:
        return self.costs[name].ratio(self.counts(name))

    @torch.no_grad()
    def after_step(self, lr_latent: float) -> dict[str, Tensor]:
        """One proximal step (if still sparsifying); returns loggable scalars."""
        self.step += 1
        force = self.step >= self.deadline_step
        threshold = lr_latent * self.strength
        for name, gen in self.generators.items():
            if self.reached[name]:
                continue
            cost = self.costs[name]
            budget = self.target_ratio * cost.full
            latents = {g: gen.latent(g).detach() for g in gen.layout.prunable_groups}
            active = {g: gen.mask(g).clone() for g in gen.layout.prunable_groups}
            new_active, reached = choose_zeroed(
                latents, active, math.inf if force else threshold, cost.cost, budget, self.min_keep
            )
            gen.set_active(new_active)
            if reached:
                self.reached[name], self.reached_at[name] = True, self.step
                self.forced = self.forced or force
                continue
            for g in gen.layout.prunable_groups:
                param = gen.latents[_key(g)]
                # Entries still active but within the threshold were spared by min_keep: leave them.
                shrink = new_active[g] & (param.abs() > threshold)
                param.copy_(torch.where(shrink, soft_threshold(param, threshold), param))
        if not self.done:
            self.strength *= self.growth
        out = {"coronet_strength": torch.tensor(self.strength)}
        for name in self.generators:
            prefix = "" if len(self.generators) == 1 else f"{name}_"
            out[f"coronet_{prefix}ratio"] = torch.tensor(self.ratio(name))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "strength": self.strength, "forced": self.forced,
            "reached": dict(self.reached), "reached_at": {k: (-1 if v is None else v) for k, v in self.reached_at.items()},
        }  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step, self.strength, self.forced = int(state["step"]), float(state["strength"]), bool(state["forced"])
        self.reached = {k: bool(v) for k, v in state["reached"].items()}
        self.reached_at = {k: (None if v < 0 else int(v)) for k, v in state["reached_at"].items()}
