"""save_model / load_model: manifest + tensor-only weights + checksum, identical outputs after reload."""

import hashlib
import json

import pytest
import torch

from decig.core.errors import CheckpointError, ManifestError
from decig.models import ArchManifest, build_from_manifest, default_manifest, load_model, save_model


@pytest.fixture
def reduced() -> ArchManifest:
    return default_manifest("unet_32", ngf=8).with_widths({"model.model.0": 5, "model.model.1.model.3.model.1": 9})


def trained_like(manifest: ArchManifest) -> torch.nn.Module:
    model = build_from_manifest(manifest)
    model.train()
    with torch.no_grad():  # move the BatchNorm statistics away from their init values
        model(torch.randn(4, 3, *manifest.input_size))
    return model.eval()


def test_round_trip_gives_identical_outputs(tmp_path, reduced):
    model = trained_like(reduced)
    save_model(model, reduced, tmp_path / "m")
    loaded, manifest = load_model(tmp_path / "m")
    assert manifest == reduced
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.eval()(x))


def test_directory_layout_and_checksum(tmp_path, reduced):
    out = save_model(trained_like(reduced), reduced, tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.pt", "model.pt.sha256"]
    digest = hashlib.sha256((out / "model.pt").read_bytes()).hexdigest()
    assert (out / "model.pt.sha256").read_text() == f"{digest}  model.pt\n"  # sha256sum -c format
    assert json.loads((out / "manifest.json").read_text()) == reduced.to_dict()
    # Tensors only: loadable with the safe unpickler.
    state = torch.load(out / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_changed_weights_are_detected(tmp_path, reduced):
    out = save_model(trained_like(reduced), reduced, tmp_path / "m")
    with (out / "model.pt").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(CheckpointError, match="corrupted or was changed"):
        load_model(out)


def test_missing_checksum_is_refused(tmp_path, reduced):
    out = save_model(trained_like(reduced), reduced, tmp_path / "m")
    (out / "model.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="unverified"):
        load_model(out)


def test_manifest_that_does_not_fit_the_weights(tmp_path, reduced):
    out = save_model(trained_like(reduced), reduced, tmp_path / "m")
    (out / "manifest.json").write_text(json.dumps(default_manifest("unet_32", ngf=8).to_dict()))
    with pytest.raises(
        CheckpointError, match=r"model.model.0.weight: weights file \[5, 3, 4, 4\] vs model \[8, 3, 4, 4\]"
    ):
        load_model(out)


def test_bad_or_missing_manifest(tmp_path, reduced):
    with pytest.raises(ManifestError, match="manifest.json not found"):
        load_model(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="cannot be read as JSON"):
        load_model(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**reduced.to_dict(), "ngf_typo": 3}))
    with pytest.raises(ManifestError, match="manifest.json: unknown manifest key"):
        load_model(tmp_path)


def test_save_refuses_a_model_that_does_not_match(tmp_path, reduced):
    with pytest.raises(ManifestError, match="does not match its unet manifest"):
        save_model(build_from_manifest(default_manifest("unet_32", ngf=8)), reduced, tmp_path / "m")
    assert not (tmp_path / "m").exists()
