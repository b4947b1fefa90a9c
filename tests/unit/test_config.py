"""The config schema: defaults validate, typos and bad values are refused with the key named."""

from pathlib import Path

import pytest
import yaml

from decig.config import apply_overrides, load_config, save_resolved_config
from decig.core.errors import ConfigError


def test_defaults_validate_and_hash_is_stable():
    a, b = load_config(), load_config()
    assert a.model.arch == "unet_128" and a.devices == ["cpu"]
    assert a.config_hash() == b.config_hash() and len(a.config_hash()) == 64


def test_overrides_parse_yaml_types():
    cfg = load_config(overrides=["stage1.steps=7", "devices=[cpu, mac]", "data.flip=false", "stage1.penalty.alpha=0.5"])
    assert cfg.stage1.steps == 7
    assert cfg.devices == ["cpu", "mac"]
    assert cfg.data.flip is False
    assert cfg.stage1.penalty.alpha == 0.5


def test_override_changes_hash():
    assert load_config().config_hash() != load_config(overrides=["seed=1"]).config_hash()


def test_unknown_key_is_named(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"stage1": {"stpes": 10}}))
    with pytest.raises(ConfigError, match=r"stage1\.stpes: unknown key"):
        load_config(p)


def test_bad_value_is_named():
    with pytest.raises(ConfigError, match=r"stage1\.penalty\.shape"):
        load_config(overrides=["stage1.penalty.shape=quadratic"])
    with pytest.raises(ConfigError, match=r"crop_size 256 is larger than load_size 128"):
        load_config(overrides=["data.crop_size=256"])
    with pytest.raises(ConfigError, match=r"duplicates"):
        load_config(overrides=["devices=[cpu, cpu]"])


def test_missing_and_malformed_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(listy)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_config_is_immutable():
    cfg = load_config()
    with pytest.raises(Exception):
        cfg.seed = 3  # type: ignore[misc]


def test_resolved_config_is_never_silently_replaced(tmp_path: Path):
    cfg = load_config()
    out = save_resolved_config(cfg, tmp_path)
    assert yaml.safe_load(out.read_text())["model"]["arch"] == "unet_128"
    save_resolved_config(cfg, tmp_path)  # identical: fine
    with pytest.raises(ConfigError, match="already holds a different resolved config"):
        save_resolved_config(load_config(overrides=["seed=5"]), tmp_path)
    assert yaml.safe_load(out.read_text())["seed"] == 0  # nothing lost
