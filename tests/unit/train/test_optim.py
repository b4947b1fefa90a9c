"""LR schedule (constant, then linear to zero, by steps) and pix2pix weight init."""

import io

import pytest
import torch
from torch import nn

from decig.core.errors import ConfigError
from decig.train.init import init_weights
from decig.train.optim import LinearDecay, adam, linear_decay


def test_linear_decay_shape():
    f = LinearDecay(steps=10, decay_from=0.5)
    values = [f(s) for s in range(10)]
    assert values[:6] == [1.0] * 6  # steps 0..5: constant (step 5 is the decay start, still 1)
    assert values[6:] == pytest.approx([4 / 5, 3 / 5, 2 / 5, 1 / 5])
    assert f(10) == 0.0  # the rate after the last step


def test_decay_from_one_means_constant_and_zero_means_decay_throughout():
    assert all(LinearDecay(8, 1.0)(s) == 1.0 for s in range(8))
    assert LinearDecay(8, 0.0)(0) == 1.0 and LinearDecay(8, 0.0)(4) == 0.5


def test_scheduler_drives_adam_and_state_loads_weights_only():
    p = nn.Parameter(torch.zeros(1))
    opt = adam([p], lr=0.1, beta1=0.5)
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    sched = linear_decay(opt, steps=4, decay_from=0.5)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.05])
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = linear_decay(adam([nn.Parameter(torch.zeros(1))], 0.1, 0.5), steps=4, decay_from=0.5)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4


def test_invalid_schedule_arguments():
    with pytest.raises(ValueError):
        LinearDecay(0, 0.5)
    with pytest.raises(ValueError):
        LinearDecay(10, 1.5)


def test_init_weights_matches_reference_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 256, 3, bias=True), nn.BatchNorm2d(256), nn.ConvTranspose2d(256, 64, 3))
    init_weights(model, "normal", 0.02)
    conv, bn, convt = model
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert abs(conv.weight.mean().item()) < 1e-3
    assert torch.count_nonzero(conv.bias) == 0 and torch.count_nonzero(convt.bias) == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.count_nonzero(bn.bias) == 0


def test_unknown_init_is_refused():
    with pytest.raises(ConfigError, match="unknown init"):
        init_weights(nn.Conv2d(1, 1, 1), "uniformish")
