"""Shared rules for per-layer channel widths (the ``widths`` of an architecture manifest).

A width is the number of output channels of one Conv2d/ConvTranspose2d, keyed by the layer's
module name in the model (the state-dict key without ``.weight``). Each family module knows its
default widths and its coupling constraints; the checks common to all families live here.
"""

from __future__ import annotations

from collections.abc import Mapping

from decig.core.errors import ManifestError

_SHOWN_NAMES = 8


def merge_widths(family: str, defaults: Mapping[str, int], overrides: Mapping[str, int]) -> dict[str, int]:
    """Defaults with ``overrides`` applied, in the model's layer order.

    Unknown layer names are refused rather than ignored: a typo would otherwise silently build
    the default width and a pruned checkpoint would then fail to load far from the cause.
    """
    unknown = [name for name in overrides if name not in defaults]
    if unknown:
        known = list(defaults)
        shown = ", ".join(known[:_SHOWN_NAMES]) + (f", ... ({len(known)} layers)" if len(known) > _SHOWN_NAMES else "")
        raise ManifestError(f"{family} model has no conv layer {unknown[0]!r} (known layers: {shown})")
    for name, width in overrides.items():
        # bool is an int subclass; True as a width is certainly a mistake.
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ManifestError(f"width of layer {name!r} must be a positive integer, got {width!r}")
    return {name: int(overrides.get(name, default)) for name, default in defaults.items()}


def require_width(widths: Mapping[str, int], layer: str, expected: int, reason: str) -> None:
    """Raise ManifestError naming ``layer`` when its width is not ``expected``."""
    if widths[layer] != expected:
        raise ManifestError(f"layer {layer!r} has width {widths[layer]} but must be {expected}: {reason}")
