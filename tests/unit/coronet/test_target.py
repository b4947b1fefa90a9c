"""The sparsification controller meets a target compression ratio (measured on the extracted model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decig.coronet.budget import build_cost_model
from decig.coronet.extract import extract_generator
from decig.coronet.hypernet import CoroNetGenerator
from decig.coronet.sparsify import Sparsifier
from decig.devices.profile import profile_model, save_profile
from decig.core.errors import ConfigError
from decig.models.cost import count_cost, prunable_layers
from decig.models.zoo import default_manifest


def _sparsify(gen: CoroNetGenerator, kind: str, target: float, *, deadline: int, steps: int, profile: Path | None = None) -> Sparsifier:
    sparsifier = Sparsifier(
        {"G": gen}, {"G": build_cost_model(gen, kind, profile)}, target_ratio=target, strength=2.0, growth=1.5,
        deadline_step=deadline,
    )  # fmt: skip
    torch.manual_seed(1)
    with torch.no_grad():  # latents of unequal sizes, as training would leave them
        for p in gen.latent_parameters():
            p.copy_(torch.rand_like(p) + 0.05)
    for _ in range(steps):
        sparsifier.after_step(lr_latent=0.01)
    return sparsifier


@pytest.mark.parametrize(
    ("arch", "overrides", "kind", "target"),
    [
        ("unet_32", dict(ngf=8, input_size=32), "params", 0.5),
        ("unet_32", dict(ngf=8, input_size=32), "macs", 0.3),
        ("resnet_6blocks", dict(ngf=8, norm="instance", input_size=32), "params", 0.4),
        ("resnet_6blocks", dict(ngf=8, norm="instance", input_size=32), "macs", 0.25),
    ],
)
def test_target_ratio_is_met_within_5_percent(arch: str, overrides: dict, kind: str, target: float) -> None:
    gen = CoroNetGenerator(default_manifest(arch, **overrides))
    sparsifier = _sparsify(gen, kind, target, deadline=1000, steps=60)
    assert sparsifier.done and not sparsifier.forced  # reached by the proximal steps, before the deadline
    compact, manifest = extract_generator(gen)
    full, small = count_cost(gen.materialize(), manifest.input_size), count_cost(compact, manifest.input_size)
    achieved = small.params_total / full.params_total if kind == "params" else small.macs_true_total / full.macs_true_total
    assert abs(achieved - target) <= 0.05 * target, f"{kind}: achieved {achieved:.4f} for target {target}"
    assert achieved <= target + 1e-9  # met from above, never above the budget


def test_deadline_cuts_to_the_target_at_once() -> None:
    gen = CoroNetGenerator(default_manifest("unet_32", ngf=8, input_size=32))
    sparsifier = _sparsify(gen, "params", 0.35, deadline=2, steps=2)
    assert sparsifier.done and sparsifier.forced and sparsifier.reached_at["G"] == 2
    compact, manifest = extract_generator(gen)
    achieved = count_cost(compact, manifest.input_size).params_total / count_cost(gen.materialize(), manifest.input_size).params_total
    assert abs(achieved - 0.35) <= 0.05 * 0.35
    # Once reached, further steps leave the architecture alone.
    before = {g: gen.mask(g).clone() for g in gen.layout.prunable_groups}
    sparsifier.after_step(lr_latent=1.0)
    assert all(torch.equal(before[g], gen.mask(g)) for g in before)


def test_latency_target_uses_the_device_profile(tmp_path: Path) -> None:
    manifest = default_manifest("unet_32", ngf=8, input_size=32)
    gen = CoroNetGenerator(manifest)
    full = gen.materialize().eval()
    profile = profile_model(full, (1, 3, 32, 32), "cpu", prunable_layers(full), threads=1, repeats=3)
    path = save_profile(profile, tmp_path / "profile.json")
    sparsifier = _sparsify(gen, "latency", 0.5, deadline=3, steps=3, profile=path)
    assert sparsifier.done
    assert abs(sparsifier.ratio("G") - 0.5) <= 0.05 * 0.5
    measured = profile.raw()
    cost = sparsifier.costs["G"]
    # The profiled layers are charged their measured latency.
    assert {t.pair_cost for t in cost.terms} >= {measured[name] for name in measured}


def test_latency_target_without_a_profile_is_a_clear_error() -> None:
    gen = CoroNetGenerator(default_manifest("unet_32", ngf=4, input_size=32))
    with pytest.raises(ConfigError, match="no device profile"):
        build_cost_model(gen, "latency", None)
    with pytest.raises(ConfigError, match="target_kind"):
        build_cost_model(gen, "flops", None)
