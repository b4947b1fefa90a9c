"""Models by name (timm-style): ``create_model("unet_256", ngf=32)``.

Each entry is a function returning the default :class:`ArchManifest` of that architecture, plus
metadata. Overrides rebuild the manifest from the changed fields, so ``ngf=32`` rescales every
default width (unlike ``dataclasses.replace`` on a resolved manifest).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from decig.core.errors import ConfigError
from decig.models.builder import build_from_manifest
from decig.models.manifest import MANIFEST_KEYS, ArchManifest

ManifestFactory = Callable[[], ArchManifest]
# Everything of a manifest except its schema version and family, which is what the name chooses.
_OVERRIDABLE = tuple(key for key in MANIFEST_KEYS if key not in ("schema_version", "family"))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    input_size: tuple[int, int]
    known_params: int | None  # parameter count of the default configuration, from the reference
    description: str
    factory: ManifestFactory


_REGISTRY: dict[str, ModelInfo] = {}


def register_architecture(
    name: str, *, known_params: int | None = None, description: str = ""
) -> Callable[[ManifestFactory], ManifestFactory]:
    """Decorator registering a zero-argument function that returns the default manifest."""

    def decorator(factory: ManifestFactory) -> ManifestFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        base = factory()
        _REGISTRY[name] = ModelInfo(name, base.family, base.input_size, known_params, description, factory)
        return factory

    return decorator


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell-style wildcard such as ``"unet_*"``."""
    names = sorted(_REGISTRY)
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)] if pattern else names


def model_info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def default_manifest(name: str, **overrides: Any) -> ArchManifest:
    """The registered manifest with ``overrides`` applied; ``None`` values mean "keep the default".

    ``widths`` overrides layer widths on top of the (possibly rescaled) defaults.
    """
    info = model_info(name)
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise ConfigError(f"model {name!r} has no setting(s) {', '.join(unknown)}; settable: {', '.join(_OVERRIDABLE)}")
    base = info.factory()
    fields = {key: getattr(base, key) for key in _OVERRIDABLE}
    # Widths of the base follow its ngf; start from none so a changed ngf rescales them.
    fields["widths"] = {}
    fields.update({key: value for key, value in overrides.items() if value is not None})
    return ArchManifest(family=base.family, **fields)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised model of the registered architecture (see :func:`default_manifest`)."""
    return build_from_manifest(default_manifest(name, **overrides))


# pix2pix trains its U-Nets with dropout on; CycleGAN trains its ResNets without.


@register_architecture("unet_32", description="5-level pix2pix U-Net for 32x32 inputs (fast tests)")
def _unet_32() -> ArchManifest:
    return ArchManifest("unet", num_downs=5, use_dropout=True, input_size=32)


@register_architecture("unet_128", known_params=41_828_995, description="pix2pix U-Net, 7 levels, 128x128")
def _unet_128() -> ArchManifest:
    return ArchManifest("unet", num_downs=7, use_dropout=True, input_size=128)


@register_architecture("unet_256", known_params=54_413_955, description="pix2pix U-Net, 8 levels, 256x256")
def _unet_256() -> ArchManifest:
    return ArchManifest("unet", num_downs=8, use_dropout=True, input_size=256)


@register_architecture("resnet_6blocks", known_params=7_837_699, description="CycleGAN ResNet generator, 6 residual blocks")
def _resnet_6blocks() -> ArchManifest:
    return ArchManifest("resnet", n_blocks=6, norm="instance", input_size=256)


@register_architecture("resnet_9blocks", known_params=11_378_179, description="CycleGAN ResNet generator, 9 residual blocks")
def _resnet_9blocks() -> ArchManifest:
    return ArchManifest("resnet", n_blocks=9, norm="instance", input_size=256)


@register_architecture(
    "patchgan_70", known_params=2_768_705, description="pix2pix 70x70 PatchGAN on input+output (6 channels)"
)
def _patchgan_70() -> ArchManifest:
    return ArchManifest("patchgan", input_nc=6, output_nc=1, n_layers=3, input_size=256)
