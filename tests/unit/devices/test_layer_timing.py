"""Timing helpers: input capture at real shapes, statistics, thread pinning."""

import pytest
import torch

from decig.devices.timing import CpuTimer, capture_inputs, pinned_threads, summarize
from decig.core.errors import DeviceError
from decig.models.cost import count_cost, prunable_layers
from decig.models.zoo import create_model


def test_captured_inputs_have_each_layers_real_shape():
    model = create_model("unet_32", ngf=8).eval()
    layers = prunable_layers(model)
    inputs = capture_inputs(model, layers, torch.randn(2, 3, 32, 32))
    expected = {row.name: row.input_shape for row in count_cost(model, 32).layers}
    assert list(inputs) == [name for name, _ in layers]
    for name, x in inputs.items():
        assert tuple(x.shape) == (2, *expected[name])
    assert not any(m._forward_pre_hooks for _, m in layers)  # hooks removed


def test_a_layer_outside_the_forward_pass_is_named():
    model = create_model("unet_32", ngf=8).eval()
    stray = torch.nn.Conv2d(3, 3, 1)
    with pytest.raises(DeviceError, match="layer 'stray' was not called"):
        capture_inputs(model, [*prunable_layers(model), ("stray", stray)], torch.randn(1, 3, 32, 32))


def test_summary_statistics():
    stats = summarize([5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0])
    assert (stats.median, stats.p90, stats.minimum) == (5.5, 9.0, 1.0)
    assert summarize([2.0]).p90 == 2.0


def test_threads_are_pinned_and_restored():
    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(DeviceError, match="threads must be >= 1"):
        with pinned_threads(0):
            pass


def test_cpu_timer_counts_repeats_after_warmup():
    calls = []
    samples = CpuTimer().time(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7 and len(samples) == 5 and all(s >= 0 for s in samples)
