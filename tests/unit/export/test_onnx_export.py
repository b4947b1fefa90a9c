"""ONNX export matches PyTorch on a tiny U-Net and a tiny ResNet; a tampered file fails loudly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from decig.core.errors import ExportError
from decig.export.onnx_export import export_onnx, verify_onnx
from decig.export.parity import sha256_of
from decig.models.zoo import create_model

UNET_SHAPE = (1, 3, 32, 32)
RESNET_SHAPE = (1, 3, 32, 32)


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("unet_32", ngf=8)
    # Non-trivial BatchNorm statistics, so "exported in eval mode" is actually tested.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.train()  # left in training mode on purpose


@pytest.fixture(scope="module")
def unet_onnx(unet: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    path = tmp_path_factory.mktemp("onnx") / "unet.onnx"
    return export_onnx(unet, UNET_SHAPE, path, dynamic_batch=True)


def test_unet_export_matches_and_is_recorded(unet: torch.nn.Module, unet_onnx) -> None:  # noqa: ANN001
    record = unet_onnx
    assert record.format == "onnx" and record.opset == 20
    assert 0 <= record.max_abs_diff <= 1e-4 and record.tolerance == 1e-4
    assert record.sha256 == sha256_of(Path(record.path))
    assert record.parity_inputs == ((1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 32, 32))
    assert unet.training  # the caller's mode is restored after exporting in eval mode
    graph = onnx.load(record.path).graph
    assert "BatchNormalization" not in {node.op_type for node in graph.node}  # folded into the convs
    assert "Dropout" not in {node.op_type for node in graph.node}


def test_dynamic_batch_runs_any_batch_but_fixed_spatial_size(unet: torch.nn.Module, unet_onnx) -> None:  # noqa: ANN001
    session = ort.InferenceSession(unet_onnx.path, providers=["CPUExecutionProvider"])
    dims = session.get_inputs()[0].shape
    assert isinstance(dims[0], str) and dims[1:] == [3, 32, 32]
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    out = session.run(None, {"input": x.numpy()})[0]
    unet.eval()
    try:
        with torch.no_grad():
            expected = unet(x.clone()).numpy()
    finally:
        unet.train()
    assert out.shape == (3, 3, 32, 32)
    assert np.abs(out - expected).max() <= 1e-4


def test_resnet_export_matches_with_fixed_shape(tmp_path: Path) -> None:
    model = create_model("resnet_6blocks", ngf=4, input_size=32)
    record = export_onnx(model, RESNET_SHAPE, tmp_path / "resnet.onnx")
    assert record.max_abs_diff <= 1e-4 and not record.dynamic_batch
    dims = ort.InferenceSession(record.path, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    assert dims == [1, 3, 32, 32]


def test_tampered_weights_fail_verification_with_the_diff(
    unet: torch.nn.Module, unet_onnx, tmp_path: Path  # noqa: ANN001
) -> None:
    model = onnx.load(unet_onnx.path)
    weight = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # a real conv weight
    array = numpy_helper.to_array(weight).copy()
    array += 0.05
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    tampered = tmp_path / "tampered.onnx"
    onnx.save(model, tampered)
    with pytest.raises(ExportError, match=r"max abs diff [0-9.e+-]+ > tolerance 0\.0001"):
        verify_onnx(tampered, unet, UNET_SHAPE, dynamic_batch=True)


@pytest.mark.slow
def test_failed_parity_deletes_the_file(tmp_path: Path) -> None:
    # InstanceNorm reductions differ between ORT and PyTorch at the 1e-7 level; 1e-12 cannot pass.
    model = create_model("resnet_6blocks", ngf=4, input_size=32)
    path = tmp_path / "strict.onnx"
    with pytest.raises(ExportError, match="does not match the PyTorch model"):
        export_onnx(model, RESNET_SHAPE, path, tolerance=1e-12)
    assert not path.exists()


def test_unsupported_opset_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="opset 999 is not supported"):
        export_onnx(create_model("unet_32", ngf=4), UNET_SHAPE, tmp_path / "bad.onnx", opset=999)
    assert not (tmp_path / "bad.onnx").exists()
