"""Choosing α, the weight of the channel penalty in the Stage I objective (paper Eq. 2).

The paper fixes α so that at the first training iteration ``α · L_PENAL / L_L1 = 0.1``: the
penalty starts at a tenth of the reconstruction loss whatever the model size, the shape f or the
device factors l(i) (whose absolute scale α therefore absorbs). ``reg: high`` uses that calibrated
α; ``reg: low`` a tenth of it (the paper's low-regularisation models trade compression for FID);
an explicit α from the config overrides both, e.g. to reuse the α of an earlier run.
"""

from __future__ import annotations

import math

from decig.core.errors import ConfigError, DecigError

REG_LEVELS = ("high", "low", "none")
LOW_REG_SCALE = 0.1


def calibrate_alpha(l1_loss: float, penalty: float, ratio: float = 0.1) -> float:
    """α such that ``α · penalty / l1_loss == ratio`` (both losses measured at iteration one)."""
    for name, value in (("L1 loss", l1_loss), ("penalty", penalty), ("ratio", ratio)):
        if not math.isfinite(value) or value <= 0:
            raise DecigError(
                f"cannot calibrate α: the first-iteration {name} is {value!r}, it must be finite and > 0 "
                "(a zero penalty means every prunable weight is zero or the shape is 'none')"
            )
    return ratio * l1_loss / penalty


def resolve_alpha(reg: str, calibrated: float | None, explicit: float | None = None) -> float:
    """The α to train with: explicit if given, else the calibrated value scaled by the reg level."""
    if reg not in REG_LEVELS:
        raise ConfigError(f"unknown regularisation level {reg!r}; choose one of {', '.join(REG_LEVELS)}")
    if explicit is not None:
        if not math.isfinite(explicit) or explicit < 0:
            raise ConfigError(f"explicit α must be finite and >= 0, got {explicit!r}")
        return float(explicit)
    if reg == "none":
        return 0.0
    if calibrated is None or not math.isfinite(calibrated) or calibrated <= 0:
        raise DecigError(f"reg {reg!r} needs a calibrated α > 0 (see calibrate_alpha), got {calibrated!r}")
    return calibrated if reg == "high" else LOW_REG_SCALE * calibrated
