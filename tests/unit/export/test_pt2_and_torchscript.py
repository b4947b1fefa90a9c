""".pt2 (torch.export) and TorchScript exports reload and match; a mismatching program is refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from decig.core.errors import ExportError
from decig.export.pt2_export import export_pt2, verify_pt2
from decig.export.torchscript_export import export_torchscript
from decig.models.zoo import create_model

SHAPE = (1, 3, 32, 32)


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("unet_32", ngf=8)


@pytest.fixture(scope="module")
def unet_pt2(unet: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return export_pt2(unet, SHAPE, tmp_path_factory.mktemp("pt2") / "unet.pt2", dynamic_batch=True)


def test_pt2_unet_round_trip_matches_with_free_batch(unet_pt2) -> None:  # noqa: ANN001
    assert unet_pt2.format == "pt2" and unet_pt2.max_abs_diff <= 1e-4
    assert unet_pt2.parity_inputs[-1] == (2, 3, 32, 32)
    program = torch.export.load(unet_pt2.path).module()
    assert program(torch.rand(3, 3, 32, 32)).shape == (3, 3, 32, 32)


def test_pt2_resnet_round_trip_matches(tmp_path: Path) -> None:
    model = create_model("resnet_6blocks", ngf=4, input_size=32)
    record = export_pt2(model, SHAPE, tmp_path / "resnet.pt2")
    assert record.max_abs_diff <= 1e-4 and not record.dynamic_batch


def test_pt2_of_other_weights_is_refused_with_the_diff(unet: torch.nn.Module, unet_pt2) -> None:  # noqa: ANN001
    perturbed = copy.deepcopy(unet)
    with torch.no_grad():
        next(perturbed.parameters()).add_(0.05)
    with pytest.raises(ExportError, match=r"\.pt2 export .* max abs diff"):
        verify_pt2(unet_pt2.path, perturbed, SHAPE, dynamic_batch=True)


def test_torchscript_on_request(tmp_path: Path) -> None:
    model = create_model("unet_32", ngf=8)
    record = export_torchscript(model, SHAPE, tmp_path / "model.torchscript.pt", dynamic_batch=True)
    assert record.format == "torchscript" and record.max_abs_diff <= 1e-4
    assert record.parity_inputs[-1] == (2, 3, 32, 32)
