"""A torch-pruning-pruned model is captured by manifest_from_model and rebuilt exactly."""

import warnings

import pytest
import torch
import torch_pruning as tp
from torch import nn

from decig.core.errors import ManifestError
from decig.models import (
    build_from_manifest,
    default_manifest,
    fix_norm_num_features,
    load_model,
    manifest_from_model,
    save_model,
)


def prune(name: str, **overrides):
    base = default_manifest(name, **overrides)
    model = build_from_manifest(base).eval()
    example = torch.randn(1, base.input_nc, *base.input_size)
    pruner = tp.pruner.MagnitudePruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=0.4,
        ignored_layers=[model.get_submodule(base.final_layer)],  # the image layer keeps output_nc
    )
    pruner.step()
    return base, model, example


def norm_features(model: nn.Module) -> dict[str, int]:
    return {n: m.num_features for n, m in model.named_modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))}


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("unet_128", {"ngf": 8}),
        ("unet_128", {"ngf": 8, "norm": "instance"}),
        ("resnet_6blocks", {"ngf": 8, "input_size": 32}),
    ],
)
def test_pruned_model_rebuilds_exactly(name, overrides):
    base, pruned, x = prune(name, **overrides)
    fix_norm_num_features(pruned)
    manifest = manifest_from_model(pruned, base)
    assert sum(manifest.widths.values()) < sum(base.widths.values())
    assert manifest.widths[base.final_layer] == base.output_nc

    rebuilt = build_from_manifest(manifest).eval()
    rebuilt.load_state_dict(pruned.state_dict())  # strict: same keys and shapes
    assert norm_features(rebuilt) == norm_features(pruned)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), pruned(x))


def test_fix_norm_num_features_repairs_instance_norms():
    _, pruned, x = prune("unet_128", ngf=8, norm="instance")
    assert fix_norm_num_features(pruned) > 0
    assert fix_norm_num_features(pruned) == 0  # idempotent
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # InstanceNorm warns when num_features disagrees with the input
        with torch.no_grad():
            pruned(x)


def test_pruned_model_survives_save_and_load(tmp_path):
    base, pruned, x = prune("unet_128", ngf=8)
    manifest = manifest_from_model(pruned, base)
    save_model(pruned, manifest, tmp_path / "pruned")
    loaded, loaded_manifest = load_model(tmp_path / "pruned")
    assert loaded_manifest == manifest
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), pruned(x))


def test_model_that_the_manifest_cannot_describe():
    base = default_manifest("unet_32", ngf=4)
    with pytest.raises(ManifestError, match="model has no layer"):
        manifest_from_model(build_from_manifest(default_manifest("resnet_6blocks", ngf=4)), base)
    model = build_from_manifest(base)
    # Pruning the *input* channels of the first layer is not a width change the manifest can hold.
    model.model.model[0] = nn.Conv2d(2, 4, kernel_size=4, stride=2, padding=1, bias=False)
    with pytest.raises(ManifestError, match=r"model.model.0.weight: model \[4, 2, 4, 4\] vs manifest \[4, 3, 4, 4\]"):
        manifest_from_model(model, base)
