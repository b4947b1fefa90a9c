"""Export generators for deployment (ONNX, torch.export ``.pt2``, TorchScript on request).

Every export is reloaded with its runtime and compared against the PyTorch model on test inputs;
a maximum absolute difference above the tolerance raises :class:`decig.errors.ExportError`.
"""

from decig.export.bundle import ExportBundle, export_saved_model
from decig.export.onnx_export import export_onnx, verify_onnx
from decig.export.pt2_export import export_pt2, verify_pt2
from decig.export.record import DEFAULT_OPSET, DEFAULT_TOLERANCE, ExportRecord
from decig.export.torchscript_export import export_torchscript, verify_torchscript

__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_TOLERANCE",
    "ExportBundle",
    "ExportRecord",
    "export_onnx",
    "export_pt2",
    "export_saved_model",
    "export_torchscript",
    "verify_onnx",
    "verify_pt2",
    "verify_torchscript",
]
