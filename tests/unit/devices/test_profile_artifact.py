"""Device profiles as JSON artifacts: round trip, content hash, and refusal of foreign files."""

import json

import pytest

from decig.devices.profile import load_profile, profile_model, save_profile
from decig.core.errors import DeviceError
from decig.models.cost import prunable_layers
from decig.models.zoo import create_model


@pytest.fixture
def model():
    return create_model("unet_32", ngf=8)


@pytest.fixture
def saved(model, tmp_path):
    profile = profile_model(model, (1, 3, 32, 32), "cpu", warmup=0, repeats=2)
    return profile, save_profile(profile, tmp_path / "profiles" / "cpu.json")


def test_json_round_trip_preserves_profile_and_hash(saved, model):
    profile, path = saved
    loaded = load_profile(path, prunable_layers(model))
    assert loaded == profile
    assert json.loads(path.read_text())["content_hash"] == profile.content_hash() == loaded.content_hash()


def test_edited_file_is_refused(saved):
    _, path = saved
    data = json.loads(path.read_text())
    data["facts"]["threads"] = 8
    path.write_text(json.dumps(data))
    with pytest.raises(DeviceError, match="content hash does not match"):
        load_profile(path)


def test_unknown_schema_version_is_refused(saved):
    _, path = saved
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DeviceError, match="schema_version 99 is not supported"):
        load_profile(path)


def test_inconsistent_factor_names_the_layer(saved):
    profile, path = saved
    data = profile.to_dict()
    data["layers"][2]["factor"] *= 2
    path.write_text(json.dumps(data))
    with pytest.raises(DeviceError, match=f"factor of layer '{profile.layers[2].name}'"):
        load_profile(path)


def test_profile_of_another_architecture_names_the_missing_layer(saved):
    _, path = saved
    deeper = create_model("unet_32", ngf=8, num_downs=4)
    # 4 levels: the innermost up conv sits where the 5-level model has a down conv.
    with pytest.raises(DeviceError, match="has no entry for layer 'model.model.1.model.3.model.3.model.3'"):
        load_profile(path, prunable_layers(deeper))
    profile = load_profile(path)
    layers = prunable_layers(create_model("unet_32", ngf=8))
    with pytest.raises(DeviceError, match="has layer 'model.model.1.model.5', which is not a prunable layer"):
        profile.check_layers([(n, m) for n, m in layers if n != "model.model.1.model.5"])


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DeviceError, match="not found"):
        load_profile(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DeviceError, match="not readable JSON"):
        load_profile(bad)


def test_same_names_other_widths_is_accepted_with_a_warning(saved, caplog):
    _, path = saved
    wider = create_model("unet_32", ngf=16)
    with caplog.at_level("WARNING"):
        load_profile(path, prunable_layers(wider))
    assert "layer model.model.0 has 16 output channels, the profile was measured at 8" in caplog.text
