"""The local base image: Debian bookworm + Python 3.11 from debootstrap, since no registry is reachable.

Every ``FROM`` must already exist in local storage (``pull_policy = never``). The rootfs is built
once with ``debootstrap --variant=minbase`` (~2 min), trimmed of docs and locales, and kept as a tar
under ``.cache/`` keyed by the recipe below; importing the tar into a fresh storage takes seconds.
Debian's python3 is the same 3.11 the lock was resolved with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from decig.core.errors import ConfigError
from decig.core.log import get_logger

log = get_logger(__name__)

BASE_IMAGE = "localhost/decig-base:bookworm-py311"
SUITE = "bookworm"
MIRROR = os.environ.get("DECIG_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
# Removed after debootstrap: nothing at run time reads them, and they are ~40% of the rootfs.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives",
        "var/lib/apt/lists", "var/log")


def recipe_key() -> str:
    """Hash of everything that shapes the rootfs, so a changed recipe builds a new tar."""
    text = "|".join([SUITE, MIRROR, ",".join(PACKAGES), ",".join(TRIM), "v1"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def rootfs_tar(cache_dir: Path) -> Path:
    """The cached rootfs tar, built with debootstrap when missing."""
    tar = Path(cache_dir) / f"base-rootfs-{SUITE}-{recipe_key()}.tar"
    if tar.is_file():
        return tar
    if shutil.which("debootstrap") is None:
        raise ConfigError("debootstrap is not installed: run scripts/ensure_podman.sh")
    tar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="decig-rootfs-", dir=tar.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        log.info("building the base rootfs with debootstrap (%s, ~2 min, once per recipe)", SUITE)
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs), MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        for rel in TRIM:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        # The image installs into its own venv; PEP 668's marker would only get in the way of tools.
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        partial = tar.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.replace(tar)
    return tar


def ensure_base_image(sandbox, cache_dir: Path) -> str:  # sandbox: imagebuild.podman.PodmanSandbox
    """Import the base rootfs into ``sandbox``'s storage unless the tag already exists; returns the tag."""
    if sandbox.podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    tar = rootfs_tar(cache_dir)
    sandbox.podman("import", "--change", "CMD=/bin/bash", str(tar), BASE_IMAGE, timeout=600)
    return BASE_IMAGE
