"""The architecture manifest: everything needed to rebuild a (possibly channel-pruned) model.

A pruned model cannot be described by ``ngf`` alone, so the manifest stores the output width of
every conv layer (``widths``, keyed by module name as in the state dict). Input widths are never
stored: each builder derives them from the producing layers (U-Net concatenations, ResNet trunk),
so a manifest cannot describe a model whose layers do not fit together.

``widths`` passed to the constructor may be a subset (the rest default from ``ngf``); after
construction it always holds every conv layer, in model order. Consequently
``dataclasses.replace(m, ngf=...)`` keeps the old widths: use the registry's
``default_manifest(name, ngf=...)`` for a different base width and :meth:`ArchManifest.with_widths`
to change layer widths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from decig.core.errors import ManifestError
from decig.models.norms import check_norm
from decig.models.patchgan import check_patchgan_input_size, patchgan_widths
from decig.models.resnet import check_resnet_input_size, resnet_widths
from decig.models.unet import check_unet_input_size, unet_widths

SCHEMA_VERSION = 1
FAMILIES = ("unet", "resnet", "patchgan")
# The structural count each family needs; the other two must be left unset.
_COUNT_FIELD = {"unet": "num_downs", "resnet": "n_blocks", "patchgan": "n_layers"}
MANIFEST_KEYS = (
    "schema_version",
    "family",
    "input_nc",
    "output_nc",
    "ngf",
    "norm",
    "use_dropout",
    "num_downs",
    "n_blocks",
    "n_layers",
    "input_size",
    "widths",
)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ManifestError(f"manifest field {name!r} must be a positive integer, got {value!r}")


def _normalize_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ManifestError(f"manifest field 'input_size' must be an int or [height, width], got {value!r}")
    for item in value:
        _positive_int("input_size", item)
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class ArchManifest:
    """Architecture of one generator or discriminator, including per-layer widths.

    ``ngf`` is the base width (``ndf`` for the PatchGAN). For the PatchGAN ``output_nc`` is 1
    (one score per patch) and ``use_dropout`` must be False.
    """

    family: str
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    norm: str = "batch"
    use_dropout: bool = False
    num_downs: int | None = None
    n_blocks: int | None = None
    n_layers: int | None = None
    input_size: tuple[int, int] = (256, 256)
    widths: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ManifestError(f"unknown model family {self.family!r}; expected one of {', '.join(FAMILIES)}")
        for name in ("input_nc", "output_nc", "ngf"):
            _positive_int(name, getattr(self, name))
        check_norm(self.norm)
        if not isinstance(self.use_dropout, bool):
            raise ManifestError(f"manifest field 'use_dropout' must be true or false, got {self.use_dropout!r}")
        wanted = _COUNT_FIELD[self.family]
        for count_field in _COUNT_FIELD.values():
            value = getattr(self, count_field)
            if count_field == wanted:
                if value is None:
                    raise ManifestError(f"a {self.family} manifest needs {wanted!r}")
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ManifestError(f"manifest field {wanted!r} must be an integer, got {value!r}")
            elif value is not None:
                raise ManifestError(f"{count_field!r} does not apply to a {self.family} manifest (got {value!r})")
        if self.family == "patchgan":
            if self.output_nc != 1:
                raise ManifestError(f"a patchgan manifest has output_nc 1 (one score per patch), got {self.output_nc}")
            if self.use_dropout:
                raise ManifestError("the patchgan discriminator has no dropout; set use_dropout to false")
        if not isinstance(self.widths, Mapping):
            raise ManifestError(
                f"manifest field 'widths' must be a mapping of layer name to width, got {self.widths!r}"
            )
        size = _normalize_size(self.input_size)
        resolved = self._resolve_widths(size)
        # Frozen dataclass: normalized values have to be written through object.__setattr__.
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "widths", MappingProxyType(resolved))

    def _resolve_widths(self, size: tuple[int, int]) -> dict[str, int]:
        overrides = dict(self.widths)
        if self.family == "unet":
            assert self.num_downs is not None
            widths = unet_widths(self.num_downs, self.ngf, self.output_nc, overrides)
            check_unet_input_size(self.num_downs, size)
        elif self.family == "resnet":
            assert self.n_blocks is not None
            widths = resnet_widths(self.n_blocks, self.ngf, self.output_nc, self.use_dropout, overrides)
            check_resnet_input_size(size)
        else:
            assert self.n_layers is not None
            widths = patchgan_widths(self.n_layers, self.ngf, overrides)
            check_patchgan_input_size(self.n_layers, size)
        return widths

    @property
    def final_layer(self) -> str:
        """Name of the layer producing the output (image or patch scores); never pruned."""
        return next(reversed(self.widths))

    def default_widths(self) -> dict[str, int]:
        """The widths this architecture has unpruned (from ``ngf``)."""
        return dict(ArchManifest(**{**self._fields(), "widths": {}}).widths)

    def with_widths(self, changes: Mapping[str, int]) -> ArchManifest:
        """A copy with some layer widths changed (validated like any manifest)."""
        return ArchManifest(**{**self._fields(), "widths": {**self.widths, **changes}})

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in MANIFEST_KEYS if name != "schema_version"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; every conv width is written out so the file alone describes the model."""
        data = self._fields()
        data["input_size"] = list(self.input_size)
        data["widths"] = dict(self.widths)
        return {"schema_version": SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchManifest:
        """Inverse of :meth:`to_dict`; refuses unknown keys and other schema versions."""
        if not isinstance(data, Mapping):
            raise ManifestError(f"a manifest must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(MANIFEST_KEYS))
        if unknown:
            raise ManifestError(f"unknown manifest key(s): {', '.join(unknown)}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"manifest schema_version {version!r} is not supported (this decig reads {SCHEMA_VERSION})"
            )
        # Missing keys are refused too: silently taking today's defaults could rebuild another model.
        missing = [key for key in MANIFEST_KEYS if key not in data]
        if missing:
            raise ManifestError(f"manifest is missing key(s): {', '.join(missing)}")
        fields = {key: value for key, value in data.items() if key != "schema_version"}
        return cls(**fields)
