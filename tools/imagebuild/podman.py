"""A private podman installation rooted in one directory: configs, storage, API service, cleanup.

Debian's podman works on these machines only with a handful of settings (see the project's
environment notes): runc instead of crun (hybrid cgroups), ulimits no higher than root may set,
host networking, never pulling, and conmon inheriting the config paths (else every attached run
hangs ~20 s in cleanup). Keeping storage, runroot and configs under one ``root`` means a test or a
one-off pipeline run can delete everything it created, and nothing touches the machine's own
``/var/lib/containers``.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from decig.core.errors import ConfigError
from decig.core.log import get_logger

log = get_logger(__name__)


def _ulimits() -> tuple[int, int]:
    """(nofile, nproc) hard limits root may actually set here; podman's defaults ask for more."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except OSError:
        pid_max = 32768
    if nproc == resource.RLIM_INFINITY or nproc <= 0:
        nproc = pid_max
    if nofile == resource.RLIM_INFINITY or nofile <= 0:
        nofile = 1048576
    return int(nofile), int(min(nproc, pid_max))


@dataclass
class PodmanSandbox:
    """podman with every path under ``root``; :meth:`destroy` removes all of it."""

    root: Path
    _service: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if shutil.which("podman") is None:
            raise ConfigError("podman is not installed: run scripts/ensure_podman.sh (apt-get install podman runc)")

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.root / "storage.conf"

    @property
    def socket(self) -> Path:
        return self.root / "podman.sock"

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value for the docker SDK (and kfp's DockerRunner) once :meth:`start_service` ran."""
        return f"unix://{self.socket}"

    def write_config(self) -> None:
        # Not set on purpose: engine tmp_dir. With it moved, conmon's exit file is not found and every
        # `podman run` waits out a 20 s timeout; libpod's state db already lives under graphroot.
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        nofile, nproc = _ulimits()
        path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        self.containers_conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            'netns = "host"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.root / "events.log"}"\n'
            'pull_policy = "never"\n'
            # Layer commits stage a full copy of each layer (GBs) here; default /var/tmp would outlive destroy().
            f'image_copy_tmp_dir = "{self.root / "tmp"}"\n'
            "conmon_env_vars = [\n"
            f'  "PATH={path}",\n'
            f'  "CONTAINERS_CONF={self.containers_conf}",\n'
            f'  "CONTAINERS_STORAGE_CONF={self.storage_conf}",\n'
            "]\n"
        )
        # overlay needs kernel overlayfs inside this VM; vfs always works but copies every layer.
        driver = os.environ.get("DECIG_PODMAN_DRIVER", "overlay")
        self.storage_conf.write_text(
            "[storage]\n"
            f'driver = "{driver}"\n'
            f'graphroot = "{self.root / "storage"}"\n'
            f'runroot = "{self.root / "run"}"\n'
        )

    def env(self) -> dict[str, str]:
        """Environment for podman commands and for docker-SDK clients of the service."""
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "DOCKER_HOST": self.docker_host,
            # buildah unpacks API build contexts (GBs here) under TMPDIR: keep them inside root too.
            "TMPDIR": str(self.root / "tmp"),
        }

    def podman(self, *args: str, check: bool = True, capture: bool = True, timeout: float | None = None
               ) -> subprocess.CompletedProcess[str]:
        if not self.containers_conf.is_file():
            self.write_config()
        cmd = ["podman", *args]
        log.debug("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, env=self.env(), text=True, capture_output=capture, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{(proc.stderr or '')[-4000:]}")
        return proc

    def start_service(self, timeout: float = 30.0) -> str:
        """Start ``podman system service`` on a private socket; returns ``DOCKER_HOST``."""
        if not self.containers_conf.is_file():
            self.write_config()
        if self._service is not None:
            return self.docker_host
        self.socket.unlink(missing_ok=True)
        log_file = open(self.root / "service.log", "ab")  # noqa: SIM115 - lives as long as the service
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.docker_host],
            env=self.env(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podman service did not start:\n{(self.root / 'service.log').read_text()[-3000:]}")
            time.sleep(0.2)
        return self.docker_host

    def stop_service(self) -> None:
        if self._service is None:
            return
        # The service was started in its own session: signal that group only, by its PID.
        try:
            os.killpg(self._service.pid, signal.SIGTERM)
            self._service.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self._service.pid, signal.SIGKILL)
            self._service.wait(timeout=10)
        self._service = None

    def destroy(self) -> None:
        """Remove every container, stop the service, reset storage, delete ``root``."""
        self.stop_service()
        if self.containers_conf.is_file():
            self.podman("rm", "--all", "--force", check=False, timeout=120)
            # reset unmounts layers (overlay) before the folder goes; rm -rf alone would fail on mounts.
            self.podman("system", "reset", "--force", check=False, timeout=300)
        shutil.rmtree(self.root, ignore_errors=True)
