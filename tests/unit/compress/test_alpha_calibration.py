"""α: calibrated so α·L_PENAL / L_L1 = 0.1 at the first iteration; high/low/explicit resolution."""

import math

import pytest
import torch

from decig.compress.alpha import calibrate_alpha, resolve_alpha
from decig.compress.penalty import ChannelPenalty
from decig.core.errors import ConfigError, DecigError
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model


def test_calibrated_alpha_gives_the_target_ratio_on_a_real_first_iteration():
    model = create_model("unet_32", ngf=8)
    x, y = torch.randn(2, 3, 32, 32), torch.rand(2, 3, 32, 32) * 2 - 1
    l1 = torch.nn.functional.l1_loss(model(x), y).item()
    penalty = ChannelPenalty(prunable_layers(model), "linear")().item()
    alpha = calibrate_alpha(l1, penalty)
    assert alpha * penalty / l1 == pytest.approx(0.1, abs=1e-6)
    assert calibrate_alpha(l1, penalty, ratio=0.3) * penalty / l1 == pytest.approx(0.3, abs=1e-6)


@pytest.mark.parametrize(("l1", "penalty"), [(1.0, 0.0), (1.0, math.nan), (0.0, 1.0), (math.inf, 1.0), (1.0, -2.0)])
def test_calibration_refuses_degenerate_losses(l1, penalty):
    with pytest.raises(DecigError, match="cannot calibrate α"):
        calibrate_alpha(l1, penalty)


def test_resolve_alpha_levels_and_override():
    assert resolve_alpha("high", 2.0) == 2.0
    assert resolve_alpha("low", 2.0) == pytest.approx(0.2)
    assert resolve_alpha("none", None) == 0.0
    assert resolve_alpha("high", 2.0, explicit=0.5) == 0.5
    assert resolve_alpha("low", None, explicit=0.0) == 0.0


def test_resolve_alpha_errors_are_clear():
    with pytest.raises(ConfigError, match="unknown regularisation level 'medium'"):
        resolve_alpha("medium", 1.0)
    with pytest.raises(DecigError, match="needs a calibrated α"):
        resolve_alpha("high", None)
    with pytest.raises(DecigError, match="needs a calibrated α"):
        resolve_alpha("low", math.nan)
    with pytest.raises(ConfigError, match="explicit α must be finite"):
        resolve_alpha("high", 1.0, explicit=-1.0)
