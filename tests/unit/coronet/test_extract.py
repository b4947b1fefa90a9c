"""Extraction: the compact generator computes what the hypernetwork-generated generator computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decig.coronet.extract import extract_generator
from decig.coronet.hypernet import CoroNetGenerator
from decig.coronet.layout import OUTPUT_GROUP
from decig.models.cost import count_cost
from decig.models.persistence import load_model, save_model
from decig.models.zoo import default_manifest

CASES = {
    "unet_batch_dropout": ("unet_128", dict(ngf=2, norm="batch", use_dropout=True, input_size=128)),
    "unet_instance": ("unet_32", dict(ngf=4, norm="instance", input_size=32)),
    "resnet_instance": ("resnet_6blocks", dict(ngf=4, norm="instance", input_size=32)),
    "resnet_batch_dropout": ("resnet_6blocks", dict(ngf=4, norm="batch", use_dropout=True, input_size=32)),
}


def _pruned(arch: str, overrides: dict, seed: int = 0) -> tuple[CoroNetGenerator, torch.Tensor]:
    torch.manual_seed(seed)
    manifest = default_manifest(arch, **overrides)
    gen = CoroNetGenerator(manifest, hyper_dim=3)
    x = torch.randn(3, 3, *manifest.input_size)
    gen.train()
    with torch.no_grad():
        gen(x)  # non-trivial BatchNorm running statistics
    active = {}
    for group in gen.layout.prunable_groups:
        mask = torch.rand(gen.layout.groups[group]) < 0.6
        mask[torch.randint(len(mask), (1,))] = True  # at least one channel per group
        active[group] = mask
    gen.set_active(active)
    gen.eval()
    return gen, torch.randn(2, 3, *manifest.input_size)


@pytest.mark.parametrize("case", list(CASES))
def test_extracted_model_equals_the_generated_model_restricted_to_kept_channels(case: str) -> None:
    gen, x = _pruned(*CASES[case])
    compact, manifest = extract_generator(gen)
    kept = gen.kept_indices()
    # Every layer's width is the number of non-zero latents of its output group.
    for layer, (group, _) in gen.layout.layers.items():
        expected = gen.manifest.output_nc if group == OUTPUT_GROUP else len(kept[group])
        assert manifest.widths[layer] == expected
    assert sum(manifest.widths.values()) < sum(gen.manifest.widths.values())
    with torch.no_grad():
        reference = gen(x)
        assert (reference - gen.materialize().eval()(x)).abs().max().item() == 0.0
        diff = (reference - compact(x)).abs().max().item()
    assert diff <= 1e-5, f"{case}: max abs diff {diff:.3g}"
    assert count_cost(compact, manifest.input_size).params_total < count_cost(gen.materialize(), manifest.input_size).params_total


def test_zero_latent_gives_exactly_zero_weights_in_producer_and_consumers() -> None:
    gen, _ = _pruned("unet_32", dict(ngf=4, input_size=32))
    group = gen.layout.prunable_groups[1]
    dead = torch.nonzero(gen.mask(group) == 0).flatten()
    assert len(dead) > 0
    with torch.no_grad():
        for layer, (out_group, in_groups) in gen.layout.layers.items():
            w = gen.generate(layer)
            w_oi = w.transpose(0, 1) if gen.transposed[layer] else w  # [out, in, kH, kW]
            if out_group == group:
                assert torch.count_nonzero(w_oi[dead]) == 0
            offset = 0
            for g in in_groups:
                if g == group:
                    assert torch.count_nonzero(w_oi[:, dead + offset]) == 0
                offset += gen.layout.groups[g]


def test_resnet_trunk_is_one_latent_shared_by_every_residual_block() -> None:
    gen, _ = _pruned("resnet_6blocks", dict(ngf=4, norm="instance", input_size=32))
    writers = [layer for layer, (group, _) in gen.layout.layers.items() if group == "model.7"]
    assert writers[0] == "model.7" and len(writers) == 7  # the trunk conv + the second conv of 6 blocks
    _, manifest = extract_generator(gen)
    assert len({manifest.widths[w] for w in writers}) == 1


def test_extracted_model_saves_and_loads_in_the_shared_format(tmp_path: Path) -> None:
    gen, x = _pruned("unet_32", dict(ngf=4, input_size=32))
    compact, manifest = extract_generator(gen)
    save_model(compact, manifest, tmp_path / "model")
    loaded, loaded_manifest = load_model(tmp_path / "model")
    assert loaded_manifest == manifest
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), compact(x))
