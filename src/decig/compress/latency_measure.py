"""Device glue for the latency budget: a profile's layer timings as a latency model, and real timings.

Kept apart from :mod:`decig.compress.budget` so the budget's search stays a pure function of a
latency model and two callables (build, measure), testable without timing anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from decig.compress.latency_model import LatencyModel, latency_model, width_structure
from decig.devices.profile import DeviceProfile
from decig.core.errors import PruningError
from decig.models.manifest import ArchManifest


def measure_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: str = "cpu",
    threads: int = 1,
    warmup: int = 5,
    repeats: int = 30,
) -> float:
    """Median batch-1 eager latency (ms) with pinned threads, via :func:`decig.evaluate.latency.measure_latency`."""
    from decig.evaluate.latency import Candidate, measure_latency

    was_training = model.training
    try:
        report = measure_latency(
            [Candidate("model", model, tuple(input_shape))],
            baseline="model",
            backends=("eager",),
            device=device,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
        )
    finally:
        model.train(was_training)  # the runner switches the model to eval
    return report.get("model", "eager").median_ms


def profile_threads(profile: DeviceProfile) -> int:
    threads = profile.settings.get("threads") or profile.facts.get("threads") or 1
    return int(threads)


def latency_model_from_profile(manifest: ArchManifest, profile: DeviceProfile, model_ms: float) -> LatencyModel:
    """A latency model from a timed profile of the *unpruned* architecture plus its whole-model latency.

    Refuses MAC profiles (no time unit), profiles of another resolution or batch, and profiles whose
    layer widths are not the unpruned widths of ``manifest`` (their timings would describe another model).
    """
    if profile.unit != "ms":
        raise PruningError(
            f"a latency target needs a timed profile (cpu or cuda); {profile.device!r} counts {profile.unit}"
        )
    expected_shape = (1, manifest.input_nc, *manifest.input_size)
    if tuple(profile.input_shape) != expected_shape:
        raise PruningError(
            f"the profile was measured with input {list(profile.input_shape)}, the model runs at {list(expected_shape)}; "
            "profile the model at its deployment resolution and batch 1"
        )
    prunable = [name for name in manifest.widths if name != manifest.final_layer]
    rows = {row.name: row for row in profile.layers}
    for name in prunable:
        if name not in rows:
            raise PruningError(f"the profile has no timing for layer {name!r}: it was measured on another architecture")
        if rows[name].out_channels != manifest.widths[name]:
            raise PruningError(
                f"the profile timed {name!r} at {rows[name].out_channels} channels but the unpruned model has "
                f"{manifest.widths[name]}: profile the unpruned (teacher) architecture"
            )
    return latency_model(width_structure(manifest), profile.raw(), model_ms)
