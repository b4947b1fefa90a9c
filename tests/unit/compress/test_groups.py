"""Channel groups: which per-channel vectors leave with a conv channel and reach its output."""

import pytest
import torch
from torch import nn

from decig.compress.groups import channel_offsets
from decig.compress.penalty import group_magnitude
from decig.compress.surgery import prune_generator
from decig.compress.hinge import HingeSettings
from decig.compress.plan import make_plan
from decig.models.builder import manifest_from_model
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model, default_manifest


def test_norm_shift_replaces_the_dead_conv_bias_and_plain_convs_keep_their_bias():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.ReLU(),  # bias dead behind the norm: β counts
        nn.Conv2d(4, 5, 3, bias=True), nn.ReLU(),  # nothing removes this bias: it counts
        nn.Conv2d(5, 6, 3, bias=True), nn.InstanceNorm2d(6),  # non-affine norm: nothing besides W
        nn.Conv2d(6, 2, 1, bias=False),
    )
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    offsets = channel_offsets(model, layers)
    assert offsets["0"] == (model[1].bias,)
    assert offsets["3"] == (model[3].bias,)
    assert offsets["5"] == () and offsets["7"] == ()


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_groups_follow_the_architecture(norm):
    model = create_model("unet_32", ngf=4, norm=norm)
    layers = prunable_layers(model)
    offsets = channel_offsets(model, layers)
    innermost_down = "model.model.1.model.3.model.3.model.3.model.1"
    if norm == "batch":
        # Every down conv but the outermost and innermost, and every up conv, sit before a BatchNorm.
        assert offsets["model.model.1.model.1"] == (model.get_submodule("model.model.1.model.2").bias,)
        assert offsets["model.model.1.model.5"] == (model.get_submodule("model.model.1.model.6").bias,)
        assert offsets["model.model.0"] == () and offsets[innermost_down] == ()  # bias-free, no norm
    else:
        assert offsets["model.model.1.model.1"] == ()  # InstanceNorm: no affine, the conv bias is subtracted
        assert offsets["model.model.0"] == (model.get_submodule("model.model.0").bias,)


def _prune_zeroed_channels(zero_shift: bool):
    """Zero three channels' conv weights (and their β if asked), gather BN statistics, prune them.

    Returns the unpruned and the pruned model's eval-mode outputs on the same input.
    """
    torch.manual_seed(0)
    model = create_model("unet_32", ngf=8)
    layers = dict(prunable_layers(model))
    offsets = channel_offsets(model, list(layers.items()))
    x = torch.randn(4, 3, 32, 32)
    name = "model.model.1.model.3.model.1"  # a down conv followed by BatchNorm
    cut = (1, 5, 6)
    with torch.no_grad():
        layers[name].weight[list(cut)] = 0.0
        offsets[name][0][list(cut)] = 0.0 if zero_shift else 0.3
    model.train()
    for _ in range(3):  # running statistics gathered with the group at zero, as after Stage I
        model(x)
    magnitude = group_magnitude(layers[name], offsets[name])
    assert all(float(magnitude[c]) == (0.0 if zero_shift else pytest.approx(0.3)) for c in cut)
    model.eval()
    manifest = manifest_from_model(model, default_manifest("unet_32", ngf=8))
    width = manifest.widths[name]
    stats = {n: group_magnitude(m, offsets[n]).detach().double().numpy() for n, m in layers.items()}
    # Manual keep counts everywhere: only the zeroed channels go (an override keeps the strongest).
    keep = {n: w for n, w in manifest.widths.items() if n != manifest.final_layer}
    keep[name] = width - len(cut)
    plan = make_plan(stats, manifest, HingeSettings(overrides=keep))
    assert plan.unit(name).pruned_indices == cut
    pruned, pruned_manifest = prune_generator(model, manifest, plan)
    assert pruned_manifest.widths[name] == width - len(cut)
    with torch.no_grad():
        return model(x), pruned.eval()(x)


def test_zero_group_means_pruning_changes_nothing():
    """With a channel's conv weights AND its norm's β zero, cutting it is exact (eval mode)."""
    full, pruned = _prune_zeroed_channels(zero_shift=True)
    torch.testing.assert_close(pruned, full, rtol=1e-5, atol=1e-5)


def test_zero_weights_alone_leave_the_norm_shift_behind():
    """The failure the groups fix: zero conv weights but β ≠ 0 — the channel outputs β, pruning changes the image."""
    full, pruned = _prune_zeroed_channels(zero_shift=False)
    assert (pruned - full).abs().max() > 1e-3
