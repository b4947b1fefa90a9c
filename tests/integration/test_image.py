"""The CPU component image, built for real with podman and run offline: what CI proves about docker/.

One module-scoped build (through the Docker Engine API of a private ``podman system service``, as
``decig-image build`` does it) in a throw-away podman root under the test's temp folder; then real
stages run inside the image as uid 1000 with ``--network none``. Teardown removes the containers, the
service and the storage. The wheelhouse and base rootfs are cached under ``.cache/`` keyed by the
lock / recipe, so only the first run on a machine pays for them. Timings go to
``build/image_test_timing.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(3600)]

TIMINGS: dict[str, float] = {}
NEEDED_GB = 30


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_podman.sh")], check=True)
    from imagebuild.podman import PodmanSandbox

    root = tmp_path_factory.mktemp("podman")
    # Peak use of one build: context tar + unpacked context + container layer + commit copy + layer.
    free_gb = shutil.disk_usage(root).free / 1e9
    if free_gb < NEEDED_GB:
        pytest.fail(f"the image build needs ~{NEEDED_GB} GB free under {root}, only {free_gb:.0f} GB are")
    sb = PodmanSandbox(root)
    sb.write_config()
    try:
        yield sb
    finally:
        t0 = time.monotonic()
        sb.destroy()
        TIMINGS["cleanup_s"] = round(time.monotonic() - t0, 1)
        out = ROOT / "build" / "image_test_timing.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(TIMINGS, indent=2) + "\n")
        assert not sb.root.exists(), "podman storage left behind"


@pytest.fixture(scope="module")
def image(sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from imagebuild.base import ensure_base_image
    from imagebuild.build import build
    from imagebuild.wheelhouse import project_cache

    t0 = time.monotonic()
    ensure_base_image(sandbox, project_cache(ROOT))
    TIMINGS["base_image_s"] = round(time.monotonic() - t0, 1)
    docker_host = sandbox.start_service()
    record = tmp_path_factory.mktemp("record") / "image.json"
    tag = f"localhost/decig-ci:{uuid.uuid4().hex[:8]}"
    old = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = docker_host
    try:
        t0 = time.monotonic()
        built = build(ROOT, tag=tag, record=record)
        TIMINGS["build_s"] = round(time.monotonic() - t0, 1)
    finally:
        if old is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old
        sandbox.stop_service()  # the runs below use the CLI; no API server left running
    inspect = json.loads(sandbox.podman("image", "inspect", tag).stdout)[0]
    return {"tag": tag, "built": built, "record": record, "inspect": inspect}


def run_in_image(sandbox, image: dict, *args: str, mounts: dict[Path, str] | None = None,
                 entrypoint: str | None = None) -> str:
    """``podman run`` without network, as the image's own (non-root) user; returns stdout."""
    cmd = ["run", "--rm", "--network", "none"]
    for host, target in (mounts or {}).items():
        cmd += ["-v", f"{host}:{target}"]
    if entrypoint:
        cmd += ["--entrypoint", entrypoint]
    t0 = time.monotonic()
    proc = sandbox.podman(*cmd, image["tag"], *args, timeout=900)
    TIMINGS[f"run_{args[0] if not entrypoint else entrypoint}_s"] = round(time.monotonic() - t0, 1)
    return proc.stdout


def test_image_metadata_and_record(image, monkeypatch) -> None:
    from imagebuild.build import git_sha, read_record
    from decig.kubeflow.image import IMAGE_ENV, component_image

    config = image["inspect"]["Config"]
    assert config["Labels"]["org.opencontainers.image.revision"] == git_sha(ROOT)
    assert config["User"] == "1000:0"
    assert config["Entrypoint"] == ["decig"]
    rec = read_record(image["record"])
    assert rec.tag == image["tag"] and rec.image_id.removeprefix("sha256:").startswith(image["inspect"]["Id"].removeprefix("sha256:")[:12])
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    assert component_image(image["record"]) == image["tag"]  # what the pipeline would now compile with


def test_runs_as_non_root_without_network_with_kfp_baked_in(sandbox, image) -> None:
    script = ("import os, socket, json, kfp, decig; "
              "print(json.dumps({'uid': os.getuid(), 'ifaces': [n for _, n in socket.if_nameindex()], "
              "'kfp': kfp.__version__, 'decig': decig.__version__}))")
    facts = json.loads(run_in_image(sandbox, image, "-c", script, entrypoint="python").strip().splitlines()[-1])
    assert facts["uid"] == 1000
    assert facts["ifaces"] == ["lo"], f"container has network interfaces {facts['ifaces']}"
    import decig
    import kfp

    assert facts["kfp"] == kfp.__version__ and facts["decig"] == decig.__version__


def test_profile_stage_runs_in_the_image(sandbox, image, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the container writes as uid 1000
    run_in_image(sandbox, image, "profile", "--arch", "unet_32", "--ngf", "8", "--device", "cpu",
                 "--warmup", "1", "--repeats", "3", "--out", "/out/profile.json", mounts={out: "/out"})
    profile = json.loads((out / "profile.json").read_text())
    assert profile["device"] == "cpu" and profile["model"]["arch"]["name"] == "unet_32"
    factors = [layer["factor"] for layer in profile["layers"]]
    assert len(factors) == profile["model"]["prunable_layers"] and all(f > 0 for f in factors)
    assert abs(np.mean(factors) - 1.0) < 1e-6  # l(i) normalised to mean 1


def test_fid_in_the_image_offline_matches_the_host(sandbox, image, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name, shift in (("real", 0), ("fake", 60)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(4):
            pixels = np.clip(rng.normal(120 + shift, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    for d in (tmp_path, tmp_path / "real", tmp_path / "fake"):
        d.chmod(0o755)  # pytest makes tmp dirs 0700; the container reads as uid 1000
    run_in_image(sandbox, image, "evaluate-fid", "--real", "/data/real", "--fake", "/data/fake", "--no-kid",
                 "--batch-size", "4", "--out", "/out/fid.json", mounts={tmp_path: "/data", out: "/out"})
    inside = json.loads((out / "fid.json").read_text())
    host_out = tmp_path / "host.json"
    subprocess.run([str(Path(sys.executable).with_name("decig")), "evaluate-fid", "--real", str(tmp_path / "real"),
                    "--fake", str(tmp_path / "fake"), "--no-kid", "--batch-size", "4", "--out", str(host_out)],
                   check=True, capture_output=True)
    host = json.loads(host_out.read_text())
    # The same converted weights file (baked at build time, not downloaded) and the same number.
    assert inside["protocol"]["weights_file_sha256"] == host["protocol"]["weights_file_sha256"]
    assert inside["fid"] > 1.0  # the two sets differ
    assert inside["fid"] == pytest.approx(host["fid"], rel=1e-3)
