"""GAN losses match their textbook definitions; unknown modes are refused."""

import pytest
import torch
import torch.nn.functional as F

from decig.core.errors import ConfigError
from decig.train.losses import GANLoss


def test_vanilla_is_bce_on_sigmoid_of_logits():
    logits = torch.tensor([[-2.0, 0.0], [1.5, 3.0]])
    loss = GANLoss("vanilla")
    assert torch.allclose(loss(logits, True), F.binary_cross_entropy(torch.sigmoid(logits), torch.ones_like(logits)))
    assert torch.allclose(loss(logits, False), F.binary_cross_entropy(torch.sigmoid(logits), torch.zeros_like(logits)))


def test_vanilla_is_stable_for_huge_logits():
    # sigmoid + BCE would give inf/nan here; the fused form stays finite.
    loss = GANLoss("vanilla")(torch.tensor([1e4, -1e4]), True)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(5e3)


def test_lsgan_is_mse_to_label():
    pred = torch.tensor([0.5, 2.0, -1.0])
    loss = GANLoss("lsgan")
    assert loss(pred, True).item() == pytest.approx(((pred - 1) ** 2).mean().item())
    assert loss(pred, False).item() == pytest.approx((pred**2).mean().item())


def test_label_follows_prediction_shape_and_gradient_flows():
    pred = torch.zeros(2, 1, 5, 7, requires_grad=True)
    GANLoss("lsgan")(pred, True).backward()
    assert pred.grad is not None and pred.grad.shape == pred.shape
    assert torch.all(pred.grad < 0)  # pulling predictions towards the real label 1


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="wgangp"):
        GANLoss("wgangp")
