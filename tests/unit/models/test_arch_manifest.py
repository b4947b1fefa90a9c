"""The architecture manifest: defaults, overrides, coupling checks, JSON round trip."""

import json

import pytest
import torch

from decig.core.errors import ManifestError
from decig.models import SCHEMA_VERSION, ArchManifest, build_from_manifest, default_manifest


def unet(**kw) -> ArchManifest:
    return ArchManifest("unet", **{"num_downs": 5, "ngf": 8, "input_size": 32, **kw})


def resnet(**kw) -> ArchManifest:
    return ArchManifest("resnet", **{"n_blocks": 2, "ngf": 4, "norm": "instance", "input_size": 16, **kw})


def test_widths_default_from_ngf_and_name_every_conv():
    m = unet()
    model = build_from_manifest(m)
    convs = [n for n, mod in model.named_modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert list(m.widths) == convs  # model registration order, output layer last
    assert m.final_layer == "model.model.3" and m.widths[m.final_layer] == 3
    assert m.widths["model.model.1.model.3.model.1"] == 32  # level 2: ngf * 4
    assert m.default_widths() == dict(m.widths)


def test_reduced_widths_build_and_forward():
    m = default_manifest("unet_32", ngf=8).with_widths(
        {"model.model.0": 3, "model.model.1.model.1": 5, "model.model.1.model.5": 7}
    )
    model = build_from_manifest(m).eval()
    assert model.get_submodule("model.model.1.model.5").weight.shape[:2] == (
        m.widths["model.model.1.model.3.model.5"] + 5,
        7,
    )
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_resnet_hidden_width_is_free_but_trunk_is_coupled():
    m = resnet(
        widths={"model.10.conv_block.1": 3, "model.7": 6, "model.10.conv_block.5": 6, "model.11.conv_block.5": 6}
    )
    with torch.no_grad():
        assert build_from_manifest(m)(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(ManifestError, match=r"'model.11.conv_block.5' has width 16 but must be 6"):
        resnet(widths={"model.7": 6, "model.10.conv_block.5": 6})


@pytest.mark.parametrize(
    "make, layer",
    [
        (lambda: unet(widths={"model.model.3": 4}), "model.model.3"),
        (lambda: resnet(widths={"model.19": 1}), "model.19"),
        (lambda: ArchManifest("patchgan", output_nc=1, n_layers=2, widths={"model.8": 2}), "model.8"),
    ],
)
def test_output_layer_width_is_fixed(make, layer):
    with pytest.raises(ManifestError, match=layer):
        make()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"widths": {"model.model.9": 4}}, "no conv layer 'model.model.9'"),
        ({"widths": {"model.model.0": 0}}, "positive integer"),
        ({"widths": {"model.model.0": 2.5}}, "positive integer"),
        ({"input_size": 48}, "divisible by 32"),
        ({"norm": "group"}, "unknown norm"),
        ({"n_blocks": 3}, "'n_blocks' does not apply"),
        ({"ngf": 0}, "'ngf'"),
        ({"input_size": (32, 32, 3)}, "input_size"),
    ],
)
def test_invalid_manifests_are_refused(kwargs, message):
    with pytest.raises(ManifestError, match=message):
        unet(**kwargs)


def test_family_level_checks():
    with pytest.raises(ManifestError, match="unknown model family"):
        ArchManifest("vit")
    with pytest.raises(ManifestError, match="needs 'num_downs'"):
        ArchManifest("unet")
    with pytest.raises(ManifestError, match="output_nc 1"):
        ArchManifest("patchgan", n_layers=3)
    with pytest.raises(ManifestError, match="larger input"):
        ArchManifest("patchgan", output_nc=1, n_layers=3, input_size=8)


def test_manifest_is_immutable_and_hashable():
    m = unet()
    with pytest.raises(TypeError):
        m.widths["model.model.0"] = 1  # type: ignore[index]
    assert hash(m) == hash(unet()) and m == unet()
    assert m != unet(widths={"model.model.0": 4})


def test_json_round_trip():
    m = resnet(widths={"model.1": 3}, input_size=(16, 20))
    data = json.loads(json.dumps(m.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["input_size"] == [16, 20] and data["widths"]["model.1"] == 3
    assert ArchManifest.from_dict(data) == m


def test_from_dict_refuses_unknown_missing_and_future():
    data = unet().to_dict()
    with pytest.raises(ManifestError, match="unknown manifest key.*extra"):
        ArchManifest.from_dict({**data, "extra": 1})
    with pytest.raises(ManifestError, match="missing key.*norm"):
        ArchManifest.from_dict({k: v for k, v in data.items() if k != "norm"})
    with pytest.raises(ManifestError, match="schema_version 99"):
        ArchManifest.from_dict({**data, "schema_version": 99})
    with pytest.raises(ManifestError, match="JSON object"):
        ArchManifest.from_dict([1, 2])  # type: ignore[arg-type]
