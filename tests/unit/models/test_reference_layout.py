"""The modules reproduce the reference pix2pix/CycleGAN layouts: parameter counts, keys, norms, biases."""

import pytest
import torch
from torch import nn

from decig.models.patchgan import NLayerDiscriminator, patchgan_output_size
from decig.models.resnet import ResnetGenerator
from decig.models.unet import UnetGenerator


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_unet_256_reference_count_and_keys():
    model = UnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch", use_dropout=True)
    assert n_params(model) == 54_413_955
    assert len(model.state_dict()) == 82


def test_unet_128_reference_count():
    assert n_params(UnetGenerator(3, 3, num_downs=7, ngf=64, norm="batch")) == 41_828_995


def test_resnet_9blocks_reference_count_and_keys():
    model = ResnetGenerator(3, 3, ngf=64, norm="instance", n_blocks=9)
    assert n_params(model) == 11_378_179
    assert len(model.state_dict()) == 48


def test_patchgan_reference_count():
    assert n_params(NLayerDiscriminator(6, ndf=64, n_layers=3, norm="batch")) == 2_768_705


def test_unet_dropout_does_not_shift_indices():
    with_dropout = UnetGenerator(3, 3, num_downs=7, ngf=4, use_dropout=True)
    without = UnetGenerator(3, 3, num_downs=7, ngf=4, use_dropout=False)
    assert list(with_dropout.state_dict()) == list(without.state_dict())
    # Dropout only in the repeated ngf*8 blocks: levels 4 .. num_downs-2 (here 4 and 5).
    assert sum(isinstance(m, nn.Dropout) for m in with_dropout.modules()) == 2


def test_resnet_dropout_shifts_second_conv_like_reference():
    keys = ResnetGenerator(3, 3, ngf=4, n_blocks=2, use_dropout=True).state_dict()
    assert "model.10.conv_block.6.weight" in keys and "model.10.conv_block.5.weight" not in keys


def test_batch_norm_convs_have_no_bias_except_output_layers():
    model = UnetGenerator(3, 3, num_downs=5, ngf=4, norm="batch")
    with_bias = [
        n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None
    ]
    assert with_bias == ["model.model.3"]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.affine and m.track_running_stats for m in norms)


def test_instance_norm_is_plain_and_convs_have_bias():
    model = UnetGenerator(3, 3, num_downs=5, ngf=4, norm="instance")
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.bias is not None for m in convs)
    norms = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and not any(m.affine or m.track_running_stats for m in norms)
    assert not any("running" in key for key in model.state_dict())


@pytest.mark.parametrize("num_downs", [2, 5, 6, 9])
def test_unet_any_depth_keeps_resolution(num_downs):
    size = 2**num_downs
    model = UnetGenerator(2, 1, num_downs=num_downs, ngf=2).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 2, size, size)).shape == (1, 1, size, size)


@pytest.mark.parametrize("n_layers", [1, 3, 4])
def test_patchgan_output_size_matches_formula(n_layers):
    model = NLayerDiscriminator(6, ndf=4, n_layers=n_layers).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 6, 64, 48))
    assert out.shape == (1, 1, *patchgan_output_size(n_layers, (64, 48)))


def test_patchgan_70_receptive_output_on_256():
    # The 70x70 PatchGAN scores a 30x30 grid of patches on 256x256 inputs.
    assert patchgan_output_size(3, (256, 256)) == (30, 30)
