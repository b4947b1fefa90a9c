"""Cost counting: true MACs (FlopCounterMode) vs the literature convention, per layer and in total."""

import pytest
import torch
from torch import nn

from decig.models import build_from_manifest, count_cost, create_model, default_manifest, prunable_layers


def meta_model(name: str, **overrides) -> nn.Module:
    # Shapes are all that counting needs; meta-device models cost no init time or memory.
    with torch.device("meta"):
        return create_model(name, **overrides)


def test_unet_256_true_and_convention_macs():
    report = count_cost(meta_model("unet_256"), 256)
    assert report.params_total == 54_413_955
    assert report.macs_true_total == pytest.approx(6.05e9, rel=0.01)
    assert report.macs_convention_total == pytest.approx(18.1e9, rel=0.01)


def test_resnet_9blocks_true_macs():
    report = count_cost(meta_model("resnet_9blocks"), 256)
    assert report.macs_true_total == pytest.approx(49.55e9, rel=0.01)
    assert report.macs_convention_total == pytest.approx(56.8e9, rel=0.01)


def test_per_layer_rows():
    manifest = default_manifest("unet_32", ngf=8)
    report = count_cost(create_model("unet_32", ngf=8), manifest.input_size)
    assert [row.name for row in report.layers] == list(manifest.widths)
    first = report.layers[0]
    assert (first.type, first.in_channels, first.out_channels) == ("Conv2d", 3, 8)
    assert (first.input_shape, first.output_shape) == ((3, 32, 32), (8, 16, 16))
    assert first.params == 8 * 3 * 4 * 4  # batch norm: no bias
    assert first.macs_true == first.macs_convention == 16 * 16 * 3 * 8 * 4 * 4
    last = report.layers[-1]
    assert (last.name, last.type, last.prunable) == (manifest.final_layer, "ConvTranspose2d", False)
    # Stride-2 transposed convs: true cost at input resolution, convention at output resolution (4x).
    for row in report.layers:
        if row.type == "ConvTranspose2d":
            assert row.macs_convention == 4 * row.macs_true
            assert row.macs_true == row.input_shape[1] * row.input_shape[2] * row.in_channels * row.out_channels * 16
    assert sum(row.macs_true for row in report.layers) == report.macs_true_total
    assert sum(row.macs_convention for row in report.layers) == report.macs_convention_total


def test_counting_leaves_the_model_untouched():
    model = create_model("unet_32", ngf=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_cost(model, 32)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats unchanged
    assert not model.model.model[0]._forward_hooks  # hooks removed


def test_narrower_model_costs_less():
    base = default_manifest("unet_32", ngf=8)
    narrow = base.with_widths({"model.model.0": 4})
    full = count_cost(create_model("unet_32", ngf=8), 32)
    cut = count_cost(build_from_manifest(narrow), 32)
    assert cut.macs_true_total < full.macs_true_total and cut.params_total < full.params_total


@pytest.mark.parametrize("name", ["unet_32", "resnet_6blocks", "patchgan_70"])
def test_prunable_layers_exclude_only_the_output_layer(name):
    manifest = default_manifest(name, ngf=4)
    layers = prunable_layers(create_model(name, ngf=4))
    assert [n for n, _ in layers] == list(manifest.widths)[:-1]
    assert all(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for _, m in layers)
