"""Every registered architecture builds and runs; the reference parameter counts hold."""

import pytest
import torch

from decig.core.errors import ConfigError
from decig.models import create_model, default_manifest, list_models, model_info, register_architecture
from decig.models.manifest import ArchManifest

ALL = list_models()


def test_expected_entries_are_registered():
    assert {"unet_32", "unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks", "patchgan_70"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_builds_and_forwards_at_default_size(name):
    # Small base width: the point is shapes, not the size of the reference models.
    manifest = default_manifest(name, ngf=4)
    model = create_model(name, ngf=4).eval()
    height, width = manifest.input_size
    assert model_info(name).input_size == (height, width)
    with torch.no_grad():
        out = model(torch.randn(1, manifest.input_nc, height, width))
    if manifest.family == "patchgan":
        assert out.shape[:2] == (1, 1) and min(out.shape[2:]) >= 1
    else:
        assert out.shape == (1, manifest.output_nc, height, width)
        assert out.abs().max() <= 1  # Tanh output


@pytest.mark.parametrize("name", [n for n in ALL if model_info(n).known_params is not None])
def test_known_parameter_counts(name):
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == model_info(name).known_params


def test_the_four_reference_counts_are_recorded():
    known = {name: model_info(name).known_params for name in ("unet_256", "unet_128", "resnet_9blocks", "patchgan_70")}
    assert known == {
        "unet_256": 54_413_955,
        "unet_128": 41_828_995,
        "resnet_9blocks": 11_378_179,
        "patchgan_70": 2_768_705,
    }


def test_list_models_pattern():
    assert list_models("unet_*") == ["unet_128", "unet_256", "unet_32"]
    assert list_models("nothing*") == []


def test_overrides_rescale_widths_and_none_keeps_default():
    base = default_manifest("unet_128")
    half = default_manifest("unet_128", ngf=32, norm=None)
    assert half.norm == base.norm
    assert all(half.widths[k] * 2 == v for k, v in base.widths.items() if k != base.final_layer)


def test_width_override_on_top_of_defaults():
    m = default_manifest("unet_32", ngf=8, widths={"model.model.0": 5})
    assert m.widths["model.model.0"] == 5 and m.widths["model.model.1.model.1"] == 16


def test_unknown_name_and_setting_are_config_errors():
    with pytest.raises(ConfigError, match="unknown model 'unet_512'.*unet_256"):
        create_model("unet_512")
    with pytest.raises(ConfigError, match="no setting.*nfg"):
        default_manifest("unet_256", nfg=32)


def test_register_model_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_architecture("unet_256")(lambda: ArchManifest("unet", num_downs=8))
