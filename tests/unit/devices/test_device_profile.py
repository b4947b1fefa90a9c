"""profile_model: latency profiles on the CPU and MAC profiles, normalised to mean-1 factors."""

import math

import pytest
import torch

from decig.devices.profile import normalize_factors, profile_model
from decig.core.errors import DeviceError
from decig.models.cost import count_cost, prunable_layers
from decig.models.zoo import create_model


@pytest.fixture
def tiny_unet():
    return create_model("unet_32", ngf=8)


def test_cpu_profile_times_every_prunable_layer(tiny_unet):
    layers = prunable_layers(tiny_unet)
    bn_before = {k: v.clone() for k, v in tiny_unet.state_dict().items()}
    threads_before = torch.get_num_threads()
    profile = profile_model(tiny_unet, (1, 3, 32, 32), "cpu", layers, warmup=1, repeats=3, threads=1)
    assert [row.name for row in profile.layers] == [name for name, _ in layers]
    assert all(row.raw > 0 and row.p90 >= row.minimum > 0 for row in profile.layers)
    assert math.fsum(profile.factors().values()) / len(layers) == pytest.approx(1.0, abs=1e-12)
    assert (profile.kind, profile.unit, profile.facts["threads"]) == ("cpu", "ms", 1)
    assert profile.settings["repeats"] == 3
    # Measuring leaves the model as it was: training mode, weights and BatchNorm statistics.
    assert tiny_unet.training and torch.get_num_threads() == threads_before
    for key, value in tiny_unet.state_dict().items():
        assert torch.equal(value, bn_before[key]), key


def test_mac_profile_equals_the_true_mac_counts(tiny_unet):
    profile = profile_model(tiny_unet, (2, 3, 32, 32), "mac")
    counts = {row.name: row.macs_true for row in count_cost(tiny_unet, 32).layers}
    assert profile.unit == "macs" and profile.facts["threads"] is None
    for row in profile.layers:
        assert row.raw == 2 * counts[row.name]  # batch of 2
    total = math.fsum(r.raw for r in profile.layers)
    for row in profile.layers:
        assert row.factor == pytest.approx(row.raw * len(profile.layers) / total, rel=1e-12)


def test_profile_records_what_it_was_measured_on(tiny_unet):
    profile = profile_model(tiny_unet, (1, 3, 32, 32), "mac", arch={"name": "unet_32", "ngf": 8})
    assert profile.model["arch"] == {"name": "unet_32", "ngf": 8}
    assert profile.model["prunable_layers"] == len(prunable_layers(tiny_unet))
    assert profile.facts["torch_version"] == torch.__version__
    assert profile.facts["logical_cores"] >= 1 and profile.facts["cpu_model"]


def test_normalisation_has_mean_one_and_refuses_bad_costs():
    assert normalize_factors([1.0, 3.0]) == [0.5, 1.5]
    with pytest.raises(DeviceError, match="finite and > 0"):
        normalize_factors([1.0, 0.0])
    with pytest.raises(DeviceError, match="must be \\(N, C, H, W\\)"):
        profile_model(torch.nn.Conv2d(3, 3, 1), (3, 32, 32), "mac", [])
