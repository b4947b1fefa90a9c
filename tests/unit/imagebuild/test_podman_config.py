"""The private podman config carries the settings this machine kind needs, all paths under its root."""

from __future__ import annotations

import resource
import shutil
import tomllib

import pytest

from imagebuild.base import recipe_key
from imagebuild.wheelhouse import lock_key

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")


def test_config_files_point_everything_at_root(tmp_path) -> None:
    from imagebuild.podman import PodmanSandbox

    sb = PodmanSandbox(tmp_path / "p")
    sb.write_config()
    conf = tomllib.loads(sb.containers_conf.read_text())
    storage = tomllib.loads(sb.storage_conf.read_text())["storage"]
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["pull_policy"] == "never"
    assert conf["containers"]["netns"] == "host"
    nofile = conf["containers"]["default_ulimits"][0]
    assert nofile == "nofile={0}:{0}".format(resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    env_vars = dict(v.split("=", 1) for v in conf["engine"]["conmon_env_vars"])
    assert env_vars["CONTAINERS_CONF"] == str(sb.containers_conf)
    assert env_vars["CONTAINERS_STORAGE_CONF"] == str(sb.storage_conf)
    for key in ("graphroot", "runroot"):
        assert storage[key].startswith(str(sb.root))
    assert sb.env()["TMPDIR"].startswith(str(sb.root))
    assert conf["engine"]["image_copy_tmp_dir"].startswith(str(sb.root))
    sb.destroy()
    assert not sb.root.exists()


def test_cache_keys_follow_their_inputs(tmp_path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("a==1\n")
    first = lock_key(lock)
    lock.write_text("a==2\n")
    assert lock_key(lock) != first and len(first) == 12
    assert len(recipe_key()) == 12
