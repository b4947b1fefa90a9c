"""The compressed generator as an MLflow pyfunc: architecture manifest + weights, any input size.

The registered artifact is the saved model directory (``manifest.json``, ``model.pt``,
``model.pt.sha256``) rather than the fixed-shape pt2 export: the manifest rebuilds the network,
so the model serves any input whose sides the architecture divides (e.g. a U-Net of depth 5
takes multiples of 32), and the weights are checked against their sha256 when loaded. The ONNX
export travels alongside as a second artifact for runtimes without PyTorch.

``predict`` takes an NCHW float32 array in [-1, 1] (or a single CHW image) and returns the
generator's output in the same layout.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc

GENERATOR_ARTIFACT = "generator"
ONNX_ARTIFACT = "onnx"


class GeneratorModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from decig.models.persistence import load_model

        self._model, self._manifest = load_model(context.artifacts[GENERATOR_ARTIFACT])
        self._model.eval()

    # No type hints on predict: MLflow would try to derive a (list-based) signature from them; the
    # tensor signature with free spatial dims is set explicitly when the model is logged.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        import numpy as np
        import torch

        x = np.asarray(model_input, dtype=np.float32)
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW (or CHW) array, got shape {x.shape}")
        with torch.no_grad():
            y = self._model(torch.from_numpy(x)).numpy()
        return y[0] if single else y


def tensor_signature(input_nc: int, output_nc: int) -> Any:
    """NCHW float32 in and out with free batch and spatial sizes (-1): any input size the net divides."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, input_nc, -1, -1))]),
                          outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, output_nc, -1, -1))]))
