"""Cost metrics: counts agree with decig.models.cost, sizes with the saved file, memory is measured for real."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decig.core.errors import EvaluationError
from decig.evaluate.cost_metrics import memory_method, model_cost, peak_memory, peak_memory_of_saved, serialized_size_bytes
from decig.models.builder import build_from_manifest
from decig.models.cost import count_cost
from decig.models.persistence import WEIGHTS_FILE, save_model
from decig.models.zoo import default_manifest


@pytest.fixture
def tiny():  # noqa: ANN201
    manifest = default_manifest("unet_32", ngf=8)
    return build_from_manifest(manifest), manifest


def test_counts_come_from_models_cost(tiny) -> None:  # noqa: ANN001
    model, manifest = tiny
    cost = model_cost(model, manifest)
    reference = count_cost(model, manifest.input_size, manifest.input_nc)
    assert cost.params == sum(p.numel() for p in model.parameters()) == reference.params_total
    assert cost.macs_true == reference.macs_true_total
    assert cost.macs_convention == reference.macs_convention_total > cost.macs_true  # convT charged 4x
    assert cost.memory is None
    assert cost.to_dict()["weights_mb"] == pytest.approx(cost.weights_bytes / 1e6)


def test_serialized_size_is_the_saved_weights_file(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    model, manifest = tiny
    save_model(model, manifest, tmp_path)
    on_disk = (tmp_path / WEIGHTS_FILE).stat().st_size
    # Same tensors, same format; only the zip's internal folder name differs by a few bytes per entry.
    assert serialized_size_bytes(model) == pytest.approx(on_disk, rel=0.01)
    n_values = sum(t.numel() for t in model.state_dict().values() if t.dtype == torch.float32)
    assert serialized_size_bytes(model) >= 4 * n_values


def test_memory_method_is_chosen_by_device_name() -> None:
    assert memory_method("cpu") == "cpu_rss_high_water_subprocess"
    assert memory_method("cuda") == "cuda_max_memory_allocated"
    assert memory_method("cuda:1") == "cuda_max_memory_allocated"
    with pytest.raises(EvaluationError, match="unknown timing device"):
        memory_method("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without a GPU")
def test_cuda_memory_without_gpu_is_a_clear_error(tiny) -> None:  # noqa: ANN001
    model, manifest = tiny
    with pytest.raises(EvaluationError, match="no CUDA GPU"):
        peak_memory(model, manifest, device="cuda")


def test_cpu_peak_memory_is_measured_in_a_fresh_process(tmp_path: Path) -> None:
    manifest = default_manifest("unet_32", ngf=8, input_size=256)
    save_model(build_from_manifest(manifest), manifest, tmp_path)
    memory = peak_memory_of_saved(tmp_path)
    assert memory.method == "cpu_rss_high_water_subprocess" and memory.details["peak_reset"]
    assert memory.details["input_shape"] == [1, 3, 256, 256]
    # ngf 8 at 256x256: a few MB of float32 activations must show up in the steady call.
    assert 2 < memory.steady_peak_mb < 200
    assert memory.peak_mb >= memory.steady_peak_mb  # the first call also pays one-time allocations


@pytest.mark.slow
def test_cpu_peak_memory_grows_with_activation_size(tmp_path: Path) -> None:
    # Same weights, 64x the pixels: the activations (and so the measured peak) must grow a lot.
    small = default_manifest("unet_32", ngf=8)
    large = default_manifest("unet_32", ngf=8, input_size=256)
    model = build_from_manifest(small)
    save_model(model, small, tmp_path / "small")
    save_model(model, large, tmp_path / "large")
    m_small = peak_memory_of_saved(tmp_path / "small")
    m_large = peak_memory_of_saved(tmp_path / "large")
    assert m_large.steady_peak_mb > m_small.steady_peak_mb + 2
