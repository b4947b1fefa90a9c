"""CycleGAN step: cycle/identity terms, chosen generators penalized, pools filled, D on pooled fakes."""

import copy

import pytest
import torch
import torch.nn.functional as F

from decig.config import PenaltyConfig
from decig.core.errors import ConfigError
from decig.models.zoo import create_model
from decig.train.init import init_weights
from decig.train.regularizer import PenaltyTerm
from decig.train.unpaired import CycleGANTask


def _task(**kw) -> CycleGANTask:
    torch.manual_seed(0)
    gens = [init_weights(create_model("resnet_6blocks", ngf=4, n_blocks=1, input_size=32)) for _ in range(2)]
    discs = [init_weights(create_model("patchgan_70", input_nc=3, ngf=4, norm="instance", input_size=32)) for _ in range(2)]
    opts = {"lr": 2e-4, "beta1": 0.5, "pool_size": 3, **kw}
    return CycleGANTask(*gens, *discs, **opts)


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, "B": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1}


def test_cycle_and_identity_terms_follow_the_reference():
    task = _task(lambda_cycle=10.0, lambda_identity=0.5)
    g_a, g_b = copy.deepcopy(task.G_A), copy.deepcopy(task.G_B)
    batch = _batch()
    losses = task.train_step(batch, PenaltyTerm(task.penalized, PenaltyConfig(shape="none"), None))
    with torch.no_grad():
        rec_a = g_b(g_a(batch["A"]))
        idt_a = g_a(batch["B"])
    assert losses["loss_cycle_A"].item() == pytest.approx(10 * F.l1_loss(rec_a, batch["A"]).item(), rel=1e-5)
    assert losses["loss_idt_A"].item() == pytest.approx(5 * F.l1_loss(idt_a, batch["B"]).item(), rel=1e-5)
    parts = ["loss_G_A", "loss_G_B", "loss_cycle_A", "loss_cycle_B", "loss_idt_A", "loss_idt_B", "loss_G_penalty"]
    assert losses["loss_G"].item() == pytest.approx(sum(losses[p].item() for p in parts), rel=1e-6)


def test_identity_off_gives_zero_identity_loss():
    losses = _task(lambda_identity=0.0).train_step(_batch(), PenaltyTerm({}, PenaltyConfig(shape="none"), None))
    assert losses["loss_idt_A"].item() == 0.0 and losses["loss_idt_B"].item() == 0.0


def test_penalty_applies_to_the_chosen_generator_only():
    task = _task(penalize="G_A")
    assert set(task.penalized) == {"G_A"}
    term = PenaltyTerm(task.penalized, PenaltyConfig(shape="linear"), None)
    losses = task.train_step(_batch(), term)
    # α calibrated against all L1 terms (cycle + identity) of the first iteration.
    l1 = sum(losses[k].item() for k in ("loss_cycle_A", "loss_cycle_B", "loss_idt_A", "loss_idt_B"))
    assert losses["loss_G_penalty"].item() == pytest.approx(0.1 * l1, rel=1e-5)
    assert set(term.penalties) == {"G_A"}
    assert set(_task().penalized) == {"G_A", "G_B"}
    with pytest.raises(ConfigError, match="penalize"):
        _task(penalize="G_C")


def test_pools_fill_and_state_is_saved():
    task = _task()
    term = PenaltyTerm({}, PenaltyConfig(shape="none"), None)
    for step in range(3):
        task.train_step(_batch(step), term)
    assert len(task.pool_A.images) == 3 and len(task.pool_B.images) == 3
    state = task.extra_state()
    fresh = _task()
    fresh.load_extra_state(state)
    assert all(torch.equal(a, b) for a, b in zip(fresh.pool_A.images, task.pool_A.images))
