"""The α·L_PENAL term of the Stage-I generator objective, as one object the training steps call.

It owns the :class:`~decig.compress.penalty.ChannelPenalty` of every penalized generator (one for
pix2pix, one or two for CycleGAN), the layer factors l(i) and α. α is unknown until the first
iteration: the paper sets it so that ``α · L_PENAL / L_L1 = ratio`` there, so the first call
measures both losses and calibrates (:mod:`decig.compress.alpha`); ``reg: low`` scales it by 0.1
and an explicit ``penalty.alpha`` overrides. In data-parallel runs the first-iteration L1 is
averaged over ranks so every rank arrives at the same α (the penalty itself is identical on all
ranks because DDP keeps the weights in sync).

``shape: none`` keeps the same code path with a zero penalty and α = 0: the vanilla baseline
differs from a DECIG run only in this term.

Layer factors come from ``penalty.factor``: ``device`` reads a profile measured on the target
device (``decig profile``), ``mac`` counts each layer's multiply-accumulates on the spot (the
paper's device-agnostic variant), ``uniform`` sets l(i) = 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from decig.compress.alpha import calibrate_alpha, resolve_alpha
from decig.compress.groups import channel_offsets
from decig.compress.penalty import ChannelPenalty
from decig.config import PenaltyConfig
from decig.devices.profile import load_profile, profile_model
from decig.core.errors import CheckpointError, ConfigError
from decig.core.log import get_logger
from decig.models.cost import prunable_layers
from decig.train.distributed import DistContext

log = get_logger(__name__)

NamedLayers = Sequence[tuple[str, nn.Module]]


def layer_factors(
    mode: str,
    model: nn.Module,
    input_shape: Sequence[int],
    profile_path: str | Path | None = None,
    layers: NamedLayers | None = None,
) -> dict[str, float] | None:
    """l(i) for every prunable layer of ``model`` (None = 1 for every layer).

    ``input_shape`` is ``(N, C, H, W)`` of the generator input (the MAC count depends on it).
    """
    layers = list(layers) if layers is not None else prunable_layers(model)
    if mode == "uniform":
        return None
    if mode == "mac":
        # Counted on the meta device: milliseconds, and the model's weights are not touched.
        return profile_model(model, tuple(input_shape), "mac", layers).factors()
    if mode == "device":
        if profile_path is None:
            raise ConfigError(
                "stage1.penalty.factor is 'device' but no device profile was given; pass --profile PROFILE.json "
                "(made by 'decig profile'), or set stage1.penalty.factor to 'mac' or 'uniform'"
            )
        return load_profile(profile_path, layers).factors()
    raise ConfigError(f"unknown stage1.penalty.factor {mode!r}; choose device, mac or uniform")


class PenaltyTerm:
    """``term(l1_loss) -> α·L_PENAL`` over the penalized generators, calibrating α on the first call."""

    def __init__(
        self,
        generators: Mapping[str, nn.Module],
        cfg: PenaltyConfig,
        factors: Mapping[str, float] | None,
        ctx: DistContext | None = None,
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx or DistContext()
        self.enabled = cfg.shape != "none" and bool(generators)
        self.penalties: dict[str, ChannelPenalty] = {}
        if self.enabled:
            for name, gen in generators.items():
                layers = prunable_layers(gen)
                # Channel groups: the norm's β (or a free conv bias) is penalized with its channel,
                # so a condensed-away channel outputs zero and pruning it changes nothing.
                self.penalties[name] = ChannelPenalty(layers, cfg.shape, factors, channel_offsets(gen, layers))
        self.alpha: float | None = None if self.enabled else 0.0
        self.alpha_calibrated: float | None = None
        self.ratio_at_start: float | None = None
        self.last_penalty: Tensor | None = None  # raw L_PENAL of the latest call, detached

    def raw(self) -> Tensor:
        """L_PENAL summed over the penalized generators (differentiable)."""
        values = [p() for p in self.penalties.values()]
        return torch.stack(values).sum() if len(values) > 1 else values[0]

    def __call__(self, l1_loss: Tensor) -> Tensor:
        if not self.enabled:
            self.last_penalty = torch.zeros((), device=l1_loss.device)
            return self.last_penalty
        penalty = self.raw()
        if self.alpha is None:
            self._calibrate(l1_loss.detach(), penalty.detach())
        assert self.alpha is not None
        self.last_penalty = penalty.detach()
        return self.alpha * penalty

    def _calibrate(self, l1_loss: Tensor, penalty: Tensor) -> None:
        l1_mean = self.ctx.all_reduce_(l1_loss.clone().float().reshape(1), "mean")
        l1_value, p_value = float(l1_mean.item()), float(penalty.item())
        explicit = self.cfg.alpha
        if explicit is None:
            self.alpha_calibrated = calibrate_alpha(l1_value, p_value, self.cfg.ratio)
        elif math.isfinite(l1_value) and l1_value > 0 and math.isfinite(p_value) and p_value > 0:
            # Recorded for comparison only: the explicit α wins.
            self.alpha_calibrated = self.cfg.ratio * l1_value / p_value
        self.alpha = resolve_alpha(self.cfg.reg, self.alpha_calibrated, explicit)
        self.ratio_at_start = self.alpha * p_value / l1_value if l1_value > 0 else float("nan")
        if not self.ctx.is_main:
            return  # every rank computed the same α; one log line is enough
        log.info(
            "α = %.4g (%s, reg %s): α·L_PENAL / L_L1 = %.4g at the first iteration (L_PENAL %.4g, L_L1 %.4g)",
            self.alpha,
            "explicit" if explicit is not None else "calibrated",
            self.cfg.reg,
            self.ratio_at_start,
            p_value,
            l1_value,
        )

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {"alpha": float(self.alpha) if self.alpha is not None else float("nan")}
        if self.last_penalty is not None:
            out["penalty"] = float(self.last_penalty)
            out["penalty_weighted"] = out["alpha"] * out["penalty"]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "shape": self.cfg.shape,
            "alpha": self.alpha,
            "alpha_calibrated": self.alpha_calibrated,
            "ratio_at_start": self.ratio_at_start,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("shape") != self.cfg.shape:
            raise CheckpointError(
                f"checkpoint was trained with penalty shape {state.get('shape')!r}, the config asks for {self.cfg.shape!r}"
            )
        self.alpha = state["alpha"]
        self.alpha_calibrated = state["alpha_calibrated"]
        self.ratio_at_start = state["ratio_at_start"]
