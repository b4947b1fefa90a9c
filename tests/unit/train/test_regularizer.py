"""α·L_PENAL: first-iteration calibration, reg levels, explicit α, vanilla, and l(i) sources."""

import pytest
import torch
from torch import nn

from decig.config import PenaltyConfig
from decig.devices.profile import profile_model, save_profile
from decig.core.errors import CheckpointError, ConfigError
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model
from decig.train.regularizer import PenaltyTerm, layer_factors


@pytest.fixture()
def gen() -> nn.Module:
    torch.manual_seed(0)
    return create_model("unet_32", ngf=4)


def test_high_reg_calibrates_ratio_exactly(gen):
    term = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear", reg="high", ratio=0.1), None)
    l1 = torch.tensor(37.5)
    weighted = term(l1)
    assert weighted.item() / l1.item() == pytest.approx(0.1, rel=1e-5)
    assert term.ratio_at_start == pytest.approx(0.1)
    assert term.alpha == pytest.approx(term.alpha_calibrated)
    # Calibration happens once: the same α is used later even if L1 changes.
    alpha = term.alpha
    term(torch.tensor(1.0))
    assert term.alpha == alpha


def test_low_reg_is_a_tenth_and_explicit_alpha_wins(gen):
    low = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear", reg="low"), None)
    low(torch.tensor(10.0))
    assert low.alpha == pytest.approx(0.1 * low.alpha_calibrated)
    assert low.ratio_at_start == pytest.approx(0.01)
    explicit = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear", alpha=0.25), None)
    explicit(torch.tensor(10.0))
    assert explicit.alpha == 0.25
    assert explicit.alpha_calibrated is not None  # still recorded, for comparison


def test_penalty_gradient_reaches_generator_weights(gen):
    term = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear"), None)
    term(torch.tensor(5.0)).backward()
    first = prunable_layers(gen)[0][1]
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


def test_shape_none_is_zero_with_alpha_zero(gen):
    term = PenaltyTerm({"G": gen}, PenaltyConfig(shape="none"), None)
    out = term(torch.tensor(3.0, requires_grad=True))
    assert out.item() == 0.0 and term.alpha == 0.0 and not term.penalties
    assert term.metrics()["penalty"] == 0.0


def test_two_generators_sum(gen):
    torch.manual_seed(1)
    other = create_model("unet_32", ngf=4)
    cfg = PenaltyConfig(shape="uniform")
    both = PenaltyTerm({"G_A": gen, "G_B": other}, cfg, None).raw()
    one = PenaltyTerm({"G_A": gen}, cfg, None).raw() + PenaltyTerm({"G_B": other}, cfg, None).raw()
    assert both.item() == pytest.approx(one.item(), rel=1e-6)


def test_state_round_trip_and_shape_mismatch(gen):
    a = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear"), None)
    a(torch.tensor(2.0))
    b = PenaltyTerm({"G": gen}, PenaltyConfig(shape="linear"), None)
    b.load_state_dict(a.state_dict())
    assert b.alpha == a.alpha
    with pytest.raises(CheckpointError, match="shape"):
        PenaltyTerm({"G": gen}, PenaltyConfig(shape="uniform"), None).load_state_dict(a.state_dict())


def test_layer_factor_sources(gen, tmp_path):
    assert layer_factors("uniform", gen, (1, 3, 32, 32)) is None
    mac = layer_factors("mac", gen, (1, 3, 32, 32))
    assert set(mac) == {n for n, _ in prunable_layers(gen)}
    assert sum(mac.values()) / len(mac) == pytest.approx(1.0)
    path = save_profile(profile_model(gen, (1, 3, 32, 32), "mac"), tmp_path / "p.json")
    assert layer_factors("device", gen, (1, 3, 32, 32), path) == pytest.approx(mac)
    with pytest.raises(ConfigError, match="--profile"):
        layer_factors("device", gen, (1, 3, 32, 32), None)
