"""Comparing state-dict layouts and explaining differences in a message a person can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

Shapes = Mapping[str, tuple[int, ...]]

SHOWN_PER_KIND = 8


def shapes_of(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def _section(title: str, lines: Sequence[str]) -> str:
    shown = list(lines[:SHOWN_PER_KIND])
    if len(lines) > SHOWN_PER_KIND:
        shown.append(f"... and {len(lines) - SHOWN_PER_KIND} more")
    return f"{len(lines)} {title}:\n  " + "\n  ".join(shown)


def describe_mismatch(
    found: Shapes, expected: Shapes, found_label: str = "checkpoint", expected_label: str = "model"
) -> str | None:
    """None when both layouts agree, else missing / unexpected / shape-mismatched keys.

    Each kind is listed up to :data:`SHOWN_PER_KIND` entries, then counted, so a wrong
    architecture (hundreds of differences) still gives a readable message.
    """
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    shapes = [
        f"{key}: {found_label} {list(found[key])} vs {expected_label} {list(expected[key])}"
        for key in expected
        if key in found and tuple(found[key]) != tuple(expected[key])
    ]
    sections = []
    if missing:
        sections.append(_section(f"missing key(s) (in the {expected_label}, not in the {found_label})", missing))
    if unexpected:
        sections.append(_section(f"unexpected key(s) (in the {found_label}, not in the {expected_label})", unexpected))
    if shapes:
        sections.append(_section("shape mismatch(es)", shapes))
    return "\n".join(sections) or None
