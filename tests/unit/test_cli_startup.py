"""`decig --help` and every `decig X --help` build the whole parser: it must not import torch.

Each command module imports its heavy dependencies inside its handler; one stray top-level import
turns every CLI call (and every KFP component start) into a multi-second torch import.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "mlflow", "kfp", "onnx", "onnxruntime", "matplotlib", "torch_pruning", "docker")


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import json, sys\n"
        "from decig.cli import build_parser\n"
        "parser = build_parser()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "decig.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("prune", "profile", "models", "train", "finetune", "evaluate", "export"):
        assert command in out.stdout
