"""Importing checkpoints trained with the pix2pix/CycleGAN reference code.

Reference checkpoints (``latest_net_G.pth``, ``<epoch>_net_G_A.pth`` ...) are plain state dicts,
sometimes with a ``module.`` prefix from DataParallel, and old InstanceNorm ones carry running
statistics that current InstanceNorm(track_running_stats=False) layers do not have. Everything
else must match exactly: a strict load either reproduces the trained network or fails with a
message listing what differs.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decig.core.errors import CheckpointError
from decig.models.builder import build_from_manifest
from decig.models.manifest import ArchManifest
from decig.models.zoo import default_manifest
from decig.models.statedict import describe_mismatch, shapes_of

# Keys under which training scripts commonly nest the state dict.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "netG", "net_G", "generator")
_STALE_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
_DATAPARALLEL_PREFIX = "module."


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _unpickler_reason(err: Exception) -> str:
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    return text.strip().split("\n\n")[0][:300]


def load_checkpoint_file(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers; errors name the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError):
        raise CheckpointError(f"checkpoint {path} not found") from None
    except pickle.UnpicklingError as err:
        # weights_only refuses pickled classes and code (and garbage). torch's message suggests
        # weights_only=False, which would run arbitrary code: keep only the specific reason.
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded safely as tensors only (corrupt, or it holds pickled "
            f"Python objects, which are refused): {_unpickler_reason(err)}"
        ) from None
    except Exception as err:  # zip/EOF/format errors come in many types; all mean "unreadable"
        reason = f"{type(err).__name__}: {err}" if str(err) else f"{type(err).__name__} (empty or truncated file?)"
        raise CheckpointError(f"checkpoint {path} cannot be read: {reason}") from None


def extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict itself, or the one a wrapper dict holds (known key, or its only tensor dict)."""
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                return dict(obj[key])
        nested = [value for value in obj.values() if _is_state_dict(value)]
        if len(nested) == 1:
            return dict(nested[0])
        keys = ", ".join(map(str, list(obj)[:10]))
        raise CheckpointError(f"checkpoint {path} is not a state dict and holds no single one (top-level keys: {keys})")
    raise CheckpointError(f"checkpoint {path} is not a state dict (it holds a {type(obj).__name__})")


def _strip_dataparallel(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if all(key.startswith(_DATAPARALLEL_PREFIX) for key in state):
        return {key[len(_DATAPARALLEL_PREFIX) :]: value for key, value in state.items()}
    return state


def _drop_stale_norm_stats(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Remove running statistics the model's InstanceNorm layers no longer keep (old checkpoints)."""
    expected = model.state_dict()
    modules = dict(model.named_modules())

    def stale(key: str) -> bool:
        owner, _, attr = key.rpartition(".")
        return key not in expected and attr in _STALE_NORM_STATS and isinstance(modules.get(owner), nn.InstanceNorm2d)

    return {key: value for key, value in state.items() if not stale(key)}


def _hints(state: Mapping[str, torch.Tensor], model: nn.Module, manifest: ArchManifest) -> list[str]:
    """Likely causes of a mismatch: the wrong ngf or the wrong norm are the common ones."""
    hints = []
    first_name, first = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    weight = state.get(f"{first_name}.weight")
    if weight is not None and weight.ndim == 4 and weight.shape[0] != first.weight.shape[0]:
        hints.append(
            f"its first layer has {weight.shape[0]} output channels; was it trained with ngf={weight.shape[0]}?"
        )
    modules = dict(model.named_modules())
    # Affine weights on layers that are InstanceNorm(affine=False) here: a BatchNorm checkpoint.
    if manifest.norm == "instance" and any(
        key.endswith(".weight") and isinstance(modules.get(key.rpartition(".")[0]), nn.InstanceNorm2d) for key in state
    ):
        hints.append("it has affine norm weights, as BatchNorm has; try norm=batch")
    if manifest.norm == "batch" and not any(key.endswith(".running_var") for key in state):
        hints.append("it has no BatchNorm statistics; try norm=instance")
    return hints


def import_reference_checkpoint(path: str | Path, arch: str, **overrides: Any) -> tuple[nn.Module, ArchManifest]:
    """Load a reference-implementation checkpoint into the registered architecture ``arch``.

    ``overrides`` are manifest settings as for :func:`decig.models.zoo.default_manifest`
    (``ngf``, ``norm``, ``use_dropout``, ``input_nc``, ``input_size`` ...); None keeps the default.
    Raises CheckpointError naming the file when it is missing, unreadable or not a state dict,
    and listing missing/unexpected keys and shape mismatches when it does not fit.
    """
    path = Path(path)
    manifest = default_manifest(arch, **overrides)
    # Read the file before building: a bad path should not wait for a 50 M-parameter init.
    raw = _strip_dataparallel(extract_state_dict(load_checkpoint_file(path), path))
    model = build_from_manifest(manifest)
    state = _drop_stale_norm_stats(raw, model)
    problem = describe_mismatch(shapes_of(state), shapes_of(model.state_dict()))
    if problem:
        settings = (
            f"ngf={manifest.ngf}, norm={manifest.norm}, input_nc={manifest.input_nc}, output_nc={manifest.output_nc}"
        )
        hints = "".join(f"\nhint: {hint}" for hint in _hints(raw, model, manifest))
        raise CheckpointError(f"checkpoint {path} does not fit {arch} ({settings}):\n{problem}{hints}")
    model.load_state_dict(state)
    return model, manifest
