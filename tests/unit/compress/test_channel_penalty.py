"""The channel penalty L_PENAL: channel bookkeeping, sort direction, and exactness of the fast gradient."""

import weakref

import pytest
import torch
from torch import nn

from decig.compress import penalty as penalty_module
from decig.compress.penalty import (
    ChannelPenalty,
    channel_l1,
    channel_ranks,
    group_magnitude,
    reference_penalty,
    shape_weights,
)
from decig.core.errors import ConfigError
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model


def _mixed_layers() -> list[tuple[str, nn.Module]]:
    return [
        ("conv", nn.Conv2d(6, 8, 3)),
        ("conv_grouped", nn.Conv2d(6, 8, 3, groups=2)),
        ("convT", nn.ConvTranspose2d(12, 10, 4, stride=2)),
        ("convT_grouped", nn.ConvTranspose2d(12, 9, 4, stride=2, groups=3)),
    ]


def _grads(layers, value):
    for _, m in layers:
        m.weight.grad = None
    value.backward()
    return [m.weight.grad.clone() for _, m in layers]


def test_shape_weights_follow_the_paper():
    assert shape_weights("uniform", 3).tolist() == [1.0, 1.0, 1.0]
    assert shape_weights("linear", 3).tolist() == [1.0, 2.0, 3.0]
    torch.testing.assert_close(shape_weights("exponential", 3), torch.exp(0.01 * torch.tensor([1.0, 2.0, 3.0])))
    assert shape_weights("none", 2).tolist() == [0.0, 0.0]
    with pytest.raises(ConfigError, match="unknown penalty shape 'cubic'"):
        shape_weights("cubic", 3)


def test_channel_l1_uses_output_channels_of_each_layout():
    conv = nn.Conv2d(3, 4, 2, bias=False)
    convT = nn.ConvTranspose2d(3, 4, 2, bias=False)  # weight [in=3, out=4, 2, 2]
    with torch.no_grad():
        for c in range(4):
            conv.weight[c].fill_(-(c + 1.0))
            convT.weight[:, c].fill_(c + 1.0)
    # Each output channel holds 3*2*2 = 12 weights of magnitude c+1.
    expected = torch.tensor([12.0, 24.0, 36.0, 48.0])
    torch.testing.assert_close(channel_l1(conv), expected)
    torch.testing.assert_close(channel_l1(convT), expected)


def test_grouped_transposed_conv_channels_only_own_their_groups_rows():
    convT = nn.ConvTranspose2d(4, 6, 1, groups=2, bias=False)  # weight [4, 3, 1, 1]; out channel g*3+k
    with torch.no_grad():
        convT.weight.zero_()
        convT.weight[0:2, 1] = 5.0  # group 0, k=1 -> output channel 1
        convT.weight[2:4, 0] = -7.0  # group 1, k=0 -> output channel 3
    assert channel_l1(convT).tolist() == [0.0, 10.0, 0.0, 14.0, 0.0, 0.0]


def test_unsupported_layer_is_refused_by_name():
    with pytest.raises(TypeError, match="'head' is a Linear"):
        ChannelPenalty([("head", nn.Linear(3, 3))], "linear")


def test_ranks_are_by_descending_magnitude():
    assert channel_ranks(torch.tensor([0.5, 3.0, 1.0])).tolist() == [2, 0, 1]


@pytest.mark.parametrize("shape", ["uniform", "linear", "exponential"])
def test_fast_penalty_equals_naive_autograd_value_and_gradient(shape, monkeypatch):
    # A tiny block size forces the multi-block code paths on these small layers.
    monkeypatch.setattr(penalty_module, "_BLOCK", 7)
    layers = _mixed_layers()
    factors = {"conv": 0.5, "conv_grouped": 1.5, "convT": 2.0, "convT_grouped": 0.25}
    fast = ChannelPenalty(layers, shape, factors)
    value = fast()
    fast_grads = _grads(layers, 3.0 * value)  # an outer weight (like α) must scale the gradient
    ref = reference_penalty(layers, shape, factors)
    ref_grads = _grads(layers, 3.0 * ref)
    torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-6)
    for got, want in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_fast_penalty_is_exact_on_a_real_generator():
    model = create_model("unet_32", ngf=8)
    layers = prunable_layers(model)
    fast = ChannelPenalty(layers, "linear")
    value = fast()
    fast_grads = _grads(layers, value)
    ref = reference_penalty(layers, "linear")
    ref_grads = _grads(layers, ref)
    torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-6)
    for got, want in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_weakest_channel_is_taxed_most_under_linear_shape():
    conv = nn.Conv2d(1, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, 0.1, 5.0]).view(3, 1, 1, 1))
    value = ChannelPenalty([("c", conv)], "linear")()
    value.backward()
    # Descending sort: 5.0 -> f(1)=1, 2.0 -> f(2)=2, 0.1 -> f(3)=3.
    assert conv.weight.grad.flatten().tolist() == [2.0, 3.0, 1.0]
    assert value.item() == pytest.approx(5.0 * 1 + 2.0 * 2 + 0.1 * 3)


def test_uniform_is_plain_l1_and_none_is_zero():
    layers = _mixed_layers()
    total_l1 = sum(m.weight.abs().sum() for _, m in layers)
    torch.testing.assert_close(ChannelPenalty(layers, "uniform")(), total_l1)
    assert ChannelPenalty(layers, "none")().item() == 0.0


def test_per_layer_contributions_sum_to_the_penalty_and_carry_factors():
    layers = _mixed_layers()
    factors = {"conv": 2.0, "conv_grouped": 1.0, "convT": 1.0, "convT_grouped": 0.0}
    pen = ChannelPenalty(layers, "exponential", factors)
    parts = pen.per_layer()
    assert list(parts) == [n for n, _ in layers]
    assert parts["convT_grouped"] == 0.0
    unweighted = ChannelPenalty(layers, "exponential").per_layer()
    assert parts["conv"] == pytest.approx(2.0 * unweighted["conv"], rel=1e-6)
    assert sum(parts.values()) == pytest.approx(pen().item(), rel=1e-6)


def test_layer_factors_must_match_the_layers():
    layers = _mixed_layers()
    with pytest.raises(ConfigError, match="no layer factor l\\(i\\) for layer 'conv_grouped'"):
        ChannelPenalty(layers, "linear", {"conv": 1.0})
    full = {n: 1.0 for n, _ in layers}
    with pytest.raises(ConfigError, match="'decoder.9'.*not a prunable layer"):
        ChannelPenalty(layers, "linear", {**full, "decoder.9": 1.0})
    with pytest.raises(ConfigError, match="of 'convT' must be finite"):
        ChannelPenalty(layers, "linear", {**full, "convT": float("nan")})


def _reference_grads(layers, shape, scale=1.0):
    return _grads(layers, scale * reference_penalty(layers, shape))


def test_gradient_buffers_are_reused_across_steps_and_stay_exact():
    layers = _mixed_layers()
    pen = ChannelPenalty(layers, "linear")
    for step in range(3):
        with torch.no_grad():  # weights move between steps, so ranks and signs change
            for _, m in layers:
                m.weight.add_(0.05 * torch.randn_like(m.weight))
        got = _grads(layers, pen())
        if step == 0:
            # Weak references: holding the buffers would (rightly) stop the penalty from reusing them.
            buffers = [weakref.ref(b) for b in pen._grad_buffers]
        assert all(a is b() for a, b in zip(pen._grad_buffers, buffers, strict=True))
        for g, want in zip(got, _reference_grads(layers, "linear"), strict=True):
            torch.testing.assert_close(g, want, rtol=1e-6, atol=1e-6)
            assert all(g.data_ptr() != b().data_ptr() for b in buffers)  # .grad never aliases a buffer


def test_two_evaluations_in_one_graph_do_not_share_a_buffer():
    layers = _mixed_layers()
    pen = ChannelPenalty(layers, "exponential")
    got = _grads(layers, 2.0 * pen() + 3.0 * pen())
    for g, want in zip(got, _reference_grads(layers, "exponential", 5.0), strict=True):
        torch.testing.assert_close(g, want, rtol=1e-6, atol=1e-6)
    # A retained graph evaluated again beside a newer evaluation.
    first = pen()
    first.backward(retain_graph=True)
    got = _grads(layers, 2.0 * first + 3.0 * pen())
    for g, want in zip(got, _reference_grads(layers, "exponential", 5.0), strict=True):
        torch.testing.assert_close(g, want, rtol=1e-6, atol=1e-6)


def test_gradients_kept_by_the_caller_are_not_overwritten():
    layers = _mixed_layers()
    weights = [m.weight for _, m in layers]
    pen = ChannelPenalty(layers, "linear")
    kept = torch.autograd.grad(pen(), weights)
    expected = [g.clone() for g in kept]
    with torch.no_grad():
        for w in weights:
            w.mul_(-1.0)  # flips every sign: a reused buffer would flip the kept gradients too
    torch.autograd.grad(pen(), weights)
    for g, want in zip(kept, expected, strict=True):
        assert torch.equal(g, want)


def _grads_with_offsets(layers, offsets, value):
    params = [m.weight for _, m in layers] + [v for name, _ in layers for v in offsets.get(name, ())]
    return torch.autograd.grad(value, params)


@pytest.mark.parametrize("shape", ["linear", "exponential"])
def test_group_offsets_are_ranked_and_differentiated_exactly(shape, monkeypatch):
    monkeypatch.setattr(penalty_module, "_BLOCK", 7)
    torch.manual_seed(3)
    layers = _mixed_layers()
    # Two offsets on one layer, one on another, none on the rest: the flat bookkeeping must not shift.
    offsets = {
        "conv": (nn.Parameter(torch.randn(8)), nn.Parameter(torch.randn(8))),
        "convT_grouped": (nn.Parameter(torch.randn(9)),),
    }
    factors = {"conv": 0.5, "conv_grouped": 1.5, "convT": 2.0, "convT_grouped": 0.25}
    pen = ChannelPenalty(layers, shape, factors, offsets)
    value = pen()
    got = _grads_with_offsets(layers, offsets, 2.0 * value)
    ref = reference_penalty(layers, shape, factors, offsets)
    want = _grads_with_offsets(layers, offsets, 2.0 * ref)
    torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-6)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)
    assert sum(pen.per_layer().values()) == pytest.approx(value.item(), rel=1e-6)
    assert value.item() > ChannelPenalty(layers, shape, factors)().item()  # the offsets do count


def test_a_large_offset_moves_a_channel_up_the_ranking():
    conv = nn.Conv2d(1, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, 0.1, 5.0]).view(3, 1, 1, 1))
    beta = nn.Parameter(torch.tensor([0.0, 4.0, 0.0]))  # channel 1: tiny weights but a large shift
    assert group_magnitude(conv, (beta,)).tolist() == pytest.approx([2.0, 4.1, 5.0])
    value = ChannelPenalty([("c", conv)], "linear", offsets={"c": (beta,)})()
    value.backward()
    # Ranks by group magnitude: 5.0 -> f=1, 4.1 -> f=2, 2.0 -> f=3; the shift pays its channel's rate.
    assert conv.weight.grad.flatten().tolist() == [3.0, 2.0, 1.0]
    assert beta.grad.tolist() == [0.0, 2.0, 0.0]  # sign(0) = 0: a zero shift is left alone


def test_offsets_must_fit_their_layer():
    layers = _mixed_layers()
    with pytest.raises(ValueError, match="'conv': offset of shape \\(5,\\) does not match its 8 channels"):
        ChannelPenalty(layers, "linear", offsets={"conv": (torch.zeros(5),)})
    with pytest.raises(ValueError, match="'head', which is not a penalized layer"):
        ChannelPenalty(layers, "linear", offsets={"head": (torch.zeros(5),)})
