"""component_image(): env beats the build record beats the version default; bad input is a ConfigError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decig import __version__
from decig.core.errors import ConfigError
from imagebuild.build import BuiltImage, read_record, write_record
from decig.kubeflow.image import IMAGE_ENV, RECORD_ENV, component_image, validate_ref

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    monkeypatch.setenv(RECORD_ENV, str(tmp_path / "none.json"))


def _record(path: Path, **kw) -> Path:
    built = BuiltImage(tag="decig:0.1.0", image_id="sha256:" + "1" * 64, variant="cpu", git_sha="abc",
                       built_at="2026-01-01T00:00:00Z", build_seconds=1.0, **kw)
    write_record(built, path)
    return path


def test_default_is_the_package_version() -> None:
    assert component_image() == f"decig:{__version__}"


def test_record_tag_then_digest_after_push(tmp_path) -> None:
    rec = _record(tmp_path / "image.json")
    assert component_image(rec) == "decig:0.1.0"
    _record(rec, digest_ref=f"registry.example:5000/ml/decig@{DIGEST}")
    assert component_image(rec) == f"registry.example:5000/ml/decig@{DIGEST}"
    assert read_record(rec).reference == f"registry.example:5000/ml/decig@{DIGEST}"
    assert json.loads(rec.read_text())["reference"] == f"registry.example:5000/ml/decig@{DIGEST}"


def test_record_found_through_env(monkeypatch, tmp_path) -> None:
    rec = _record(tmp_path / "elsewhere.json")
    monkeypatch.setenv(RECORD_ENV, str(rec))
    assert component_image() == "decig:0.1.0"


def test_env_overrides_record(monkeypatch, tmp_path) -> None:
    rec = _record(tmp_path / "image.json")
    monkeypatch.setenv(IMAGE_ENV, f"ghcr.io/acme/decig@{DIGEST}")
    assert component_image(rec) == f"ghcr.io/acme/decig@{DIGEST}"


@pytest.mark.parametrize("bad", ["Decig:1", "deci g:1", "decig@sha256:abc", "://x", "decig:-bad"])
def test_malformed_env_is_rejected_with_its_name(monkeypatch, bad) -> None:
    monkeypatch.setenv(IMAGE_ENV, bad)
    with pytest.raises(ConfigError, match=IMAGE_ENV):
        component_image()


def test_corrupt_record_is_a_config_error(tmp_path) -> None:
    rec = tmp_path / "image.json"
    rec.write_text("{not json")
    with pytest.raises(ConfigError, match="decig-image build"):
        component_image(rec)


@pytest.mark.parametrize("good", ["decig:0.1.0", "localhost/decig-ci:1a2b", f"r.example/a/b/decig@{DIGEST}",
                                  f"decig:0.1.0@{DIGEST}", "registry.example:5000/ml/decig_x:v1.2-rc.1"])
def test_valid_refs(good) -> None:
    assert validate_ref(good) == good
