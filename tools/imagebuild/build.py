"""``decig-image build``: prepare the offline build inputs, build through the docker API, record the ref.

The build talks to whatever serves the Docker Engine API at ``DOCKER_HOST`` — a Docker engine, or
``podman system service`` (what CI uses; see :mod:`imagebuild.podman`). Its result is written to
``build/image.json`` so :func:`decig.kubeflow.image.component_image` compiles the pipeline against
exactly this image, by digest once it has been pushed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from decig import __version__
from decig.core.errors import ConfigError
from decig.kubeflow.image import RECORD_PATH, validate_ref
from imagebuild.wheelhouse import decig_wheel, ensure_wheelhouse, project_cache
from decig.core.log import get_logger

log = get_logger(__name__)

DOCKERFILES = {"cpu": "docker/Dockerfile", "cuda": "docker/Dockerfile.cuda"}
STAGE = Path("build/image")  # the only paths .dockerignore lets into the context


@dataclass(frozen=True)
class BuiltImage:
    """What a build (and later a push) produced; serialised as build/image.json."""

    tag: str
    image_id: str
    variant: str
    git_sha: str
    built_at: str
    build_seconds: float
    digest_ref: str = ""  # registry/name@sha256:... once pushed; preferred by component_image()

    @property
    def reference(self) -> str:
        return self.digest_ref or self.tag


def git_sha(repo: Path) -> str:
    """HEAD's SHA, with ``-dirty`` when the work tree differs (the label must not claim a clean commit)."""
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, text=True,
                             capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               check=True, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link the cached wheelhouse into the build context (same filesystem: no 3.5 GB copy)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            try:
                os.link(f, dest / f.name)
            except OSError:
                shutil.copy2(f, dest / f.name)


def prepare_context(repo: Path, cache_dir: Path) -> Path:
    """Fill ``build/image/`` with the wheelhouse and decig's wheel; returns the context root (``repo``)."""
    wheelhouse = ensure_wheelhouse(repo / "requirements.lock", cache_dir)
    _link_tree(wheelhouse, repo / STAGE / "wheelhouse")
    decig_wheel(repo, repo / STAGE / "dist")
    return repo


def build(
    repo: Path,
    tag: str | None = None,
    variant: str = "cpu",
    cache_dir: Path | None = None,
    base_image: str | None = None,
    record: Path | None = None,
) -> BuiltImage:
    """Build the component image through the docker API at ``DOCKER_HOST`` and record the result."""
    import docker  # heavy; only this command needs it

    repo = Path(repo).resolve()
    if variant not in DOCKERFILES:
        raise ConfigError(f"unknown image variant {variant!r}; choose one of {sorted(DOCKERFILES)}")
    dockerfile = repo / DOCKERFILES[variant]
    if not dockerfile.is_file():
        raise ConfigError(f"{dockerfile} not found: run from the decig repository root (or pass --repo)")
    tag = validate_ref(tag or f"decig:{__version__}" + ("" if variant == "cpu" else f"-{variant}"))
    if "@" in tag:
        raise ConfigError(f"--tag {tag!r} must be name:tag; a digest only exists after the build")
    try:
        client = docker.from_env(timeout=3600)
        client.ping()
    except docker.errors.DockerException as err:
        raise ConfigError(
            f"no Docker API at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}: {err}. Start one, e.g. "
            "`podman system service --time=0 unix:///tmp/podman.sock` and export DOCKER_HOST=unix:///tmp/podman.sock"
        ) from None

    started = time.monotonic()
    prepare_context(repo, Path(cache_dir) if cache_dir else project_cache(repo))
    sha = git_sha(repo)
    buildargs = {"GIT_SHA": sha, "VERSION": __version__}
    if base_image:
        buildargs["BASE_IMAGE"] = base_image
    log.info("building %s from %s (revision %s)", tag, dockerfile.relative_to(repo), sha)
    try:
        # network_mode host: podman's API ignores containers.conf netns; pull=False: no registry here.
        image, logs = client.images.build(
            path=str(repo), dockerfile=str(dockerfile.relative_to(repo)), tag=tag, buildargs=buildargs,
            network_mode="host", pull=False, rm=True, forcerm=True,
        )
    except docker.errors.BuildError as err:
        tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in err.build_log)[-4000:]
        raise RuntimeError(f"image build failed: {err.msg}\n{tail}") from None
    for chunk in logs:
        if "stream" in chunk:
            log.debug("%s", chunk["stream"].rstrip())
    result = BuiltImage(
        tag=tag, image_id=image.id, variant=variant, git_sha=sha,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(time.monotonic() - started, 1),
    )
    write_record(result, record or repo / RECORD_PATH)
    return result


def write_record(result: BuiltImage, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**asdict(result), "reference": result.reference}, indent=2) + "\n")
    tmp.replace(path)


def read_record(path: Path) -> BuiltImage:
    data = json.loads(Path(path).read_text())
    data.pop("reference", None)
    return BuiltImage(**data)


def push(record_path: Path, repository: str) -> BuiltImage:
    """Tag the recorded image as ``repository:<tag>``, push it, and record ``repository@<digest>``."""
    import docker

    if not Path(record_path).is_file():
        raise ConfigError(f"{record_path} not found: run `decig-image build` first")
    built = read_record(record_path)
    validate_ref(f"{repository}:x")
    tag = built.tag.rsplit(":", 1)[1]
    client = docker.from_env(timeout=3600)
    image = client.images.get(built.image_id)
    image.tag(repository, tag)
    digest = ""
    # Never log the credentials: the SDK reads them from the docker config, we only pass names.
    for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise RuntimeError(f"push of {repository}:{tag} failed: {chunk['error']}")
        aux = chunk.get("aux") or {}
        digest = aux.get("Digest", digest)
    if not digest:
        # podman's API may not report the digest in the stream; the registry's answer is authoritative.
        digest = client.images.get_registry_data(f"{repository}:{tag}").id
    result = BuiltImage(**{**asdict(built), "digest_ref": validate_ref(f"{repository}@{digest}")})
    write_record(result, Path(record_path))
    return result
