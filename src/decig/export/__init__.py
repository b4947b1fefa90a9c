"""Export generators for deployment (ONNX, torch.export ``.pt2``, TorchScript on request).

Every export is reloaded with its runtime and compared against the PyTorch model on test inputs;
a maximum absolute difference above the tolerance raises :class:`decig.core.errors.ExportError`.
"""

from decig.core.lazy import lazy_namespace

# Names resolve on first use (see decig.core.lazy): importing one submodule must not load them all.
_LAZY = {
    "ExportBundle": "decig.export.bundle",
    "export_saved_model": "decig.export.bundle",
    "export_onnx": "decig.export.onnx_export",
    "verify_onnx": "decig.export.onnx_export",
    "export_pt2": "decig.export.pt2_export",
    "verify_pt2": "decig.export.pt2_export",
    "DEFAULT_OPSET": "decig.export.record",
    "DEFAULT_TOLERANCE": "decig.export.record",
    "ExportRecord": "decig.export.record",
    "export_torchscript": "decig.export.torchscript_export",
    "verify_torchscript": "decig.export.torchscript_export",
}

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

__getattr__, __dir__ = lazy_namespace(__name__, _LAZY)
