"""Saving and loading models as manifest + tensors (no pickled modules).

A model directory holds:
  manifest.json     ArchManifest.to_dict(), enough to rebuild the architecture
  model.pt          torch.save(state_dict): tensors only, loaded with weights_only=True
  model.pt.sha256   "<hex>  model.pt" (sha256sum format), checked on load

Storing code-free tensors means a checkpoint can be loaded without trusting its author, and the
architecture survives refactors of the module classes as long as the key names stay.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from decig.core.errors import CheckpointError, DecigError, ManifestError
from decig.models.builder import build_from_manifest, check_fits
from decig.models.manifest import ArchManifest
from decig.models.statedict import describe_mismatch, shapes_of

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "model.pt"
CHECKSUM_FILE = WEIGHTS_FILE + ".sha256"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    # Write beside the target and rename, so a crash never leaves a half-written file under the real name.
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_model(model: nn.Module, manifest: ArchManifest, directory: str | Path) -> Path:
    """Write manifest.json, model.pt and its sha256 into ``directory``; return the directory.

    The model is checked against the manifest first, so a directory never pairs weights with a
    manifest that cannot load them. The manifest is written last: its presence marks a complete save.
    """
    directory = Path(directory)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    check_fits(state, manifest, "model")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    weights = directory / WEIGHTS_FILE
    _write_atomic(weights, lambda tmp: torch.save(state, tmp))
    checksum = f"{sha256_file(weights)}  {WEIGHTS_FILE}\n"
    _write_atomic(directory / CHECKSUM_FILE, lambda tmp: tmp.write_text(checksum))
    text = json.dumps(manifest.to_dict(), indent=2) + "\n"
    _write_atomic(directory / MANIFEST_FILE, lambda tmp: tmp.write_text(text))
    return directory


def read_manifest(directory: str | Path) -> ArchManifest:
    path = Path(directory) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path} not found (not a saved decig model directory?)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path} cannot be read as JSON: {err}") from None
    try:
        return ArchManifest.from_dict(data)
    except DecigError as err:
        raise ManifestError(f"{path}: {err}") from None


def load_model(directory: str | Path) -> tuple[nn.Module, ArchManifest]:
    """Rebuild the model saved by :func:`save_model` and load its weights (strict, checksum verified).

    The model is returned in whatever mode a fresh module has (training); call ``.eval()`` for inference.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    weights = directory / WEIGHTS_FILE
    checksum_path = directory / CHECKSUM_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights} not found")
    try:
        expected = checksum_path.read_text().split()[0]
    except (OSError, IndexError):
        raise CheckpointError(f"{checksum_path} is missing or empty; refusing to load unverified weights") from None
    actual = sha256_file(weights)
    if actual != expected:
        raise CheckpointError(
            f"{weights} is corrupted or was changed: sha256 {actual} but {checksum_path.name} says {expected}"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling / zip errors come in many types; all mean "unreadable"
        raise CheckpointError(f"{weights} cannot be loaded as a tensor-only checkpoint: {err}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{weights} does not hold a state dict (name -> tensor)")
    model = build_from_manifest(manifest)
    problem = describe_mismatch(shapes_of(state), shapes_of(model.state_dict()), found_label="weights file")
    if problem:
        raise CheckpointError(f"{weights} does not fit {directory / MANIFEST_FILE}:\n{problem}")
    model.load_state_dict(state)
    return model, manifest
