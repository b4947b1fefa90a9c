"""pix2pix step: objective terms as specified, D conditional on A, the penalty shrinking weights."""

import copy

import pytest
import torch
import torch.nn.functional as F

from decig.config import PenaltyConfig
from decig.models.zoo import create_model
from decig.train.init import init_weights
from decig.train.paired import Pix2PixTask
from decig.train.regularizer import PenaltyTerm


def _task(seed: int = 0, **kw) -> Pix2PixTask:
    torch.manual_seed(seed)
    g = init_weights(create_model("unet_32", ngf=4))
    d = init_weights(create_model("patchgan_70", input_nc=6, ngf=4, input_size=32))
    return Pix2PixTask(g, d, lr=2e-4, beta1=0.5, **kw)


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    return {"A": a, "B": -a}


def test_losses_compose_the_objective():
    task = _task(lambda_l1=100.0)
    penalty = PenaltyTerm(task.penalized, PenaltyConfig(shape="linear"), None)
    batch = _batch()
    g_before = copy.deepcopy(task.G)
    losses = task.train_step(batch, penalty)
    expected_l1 = F.l1_loss(g_before(batch["A"]), batch["B"]) * 100
    assert losses["loss_G_L1"].item() == pytest.approx(expected_l1.item(), rel=1e-5)
    total = losses["loss_G_GAN"] + losses["loss_G_L1"] + losses["loss_G_penalty"]
    assert losses["loss_G"].item() == pytest.approx(total.item(), rel=1e-6)
    assert losses["loss_D"].item() == pytest.approx(0.5 * (losses["loss_D_real"] + losses["loss_D_fake"]).item())
    # First-iteration calibration: α·L_PENAL = 0.1·λL1.
    assert losses["loss_G_penalty"].item() == pytest.approx(0.1 * losses["loss_G_L1"].item(), rel=1e-5)
    assert all(p.requires_grad for p in task.D.parameters())  # D unfrozen again after the G update


def test_both_networks_update_and_discriminator_sees_input_and_output():
    task = _task()
    g0 = [p.detach().clone() for p in task.G.parameters()]
    d0 = [p.detach().clone() for p in task.D.parameters()]
    task.train_step(_batch(), PenaltyTerm(task.penalized, PenaltyConfig(shape="none"), None))
    assert any(not torch.equal(a, b) for a, b in zip(g0, task.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, task.D.parameters()))
    assert task.D.model[0].in_channels == 6


def test_penalty_condenses_compared_with_vanilla():
    """Same init, same data: the linear penalty drives L_PENAL down, vanilla training does not."""
    results = {}
    for shape in ("linear", "none"):
        task = _task(seed=3)
        measure = PenaltyTerm(task.penalized, PenaltyConfig(shape="linear"), None)
        start = measure.raw().item()
        term = PenaltyTerm(task.penalized, PenaltyConfig(shape=shape, alpha=1e-2 if shape != "none" else None), None)
        for step in range(6):
            task.train_step(_batch(step), term)
        results[shape] = measure.raw().item() / start
    assert results["linear"] < results["none"]
    assert results["linear"] < 0.99


def test_lsgan_mode_runs():
    task = _task(gan_mode="lsgan")
    losses = task.train_step(_batch(), PenaltyTerm(task.penalized, PenaltyConfig(shape="none"), None))
    assert all(torch.isfinite(v) for v in losses.values())
