"""infra/ renders with kustomize and every object validates against the Kubernetes schema, offline.

Rendering uses the real kustomize (``kubectl kustomize``, or a standalone ``kustomize``); the schemas
ship inside the ``kubernetes-validate`` wheel, so nothing is fetched. Beyond schema validity the
tests pin the properties a platform engineer relies on: no secret values in git, pinned image tags,
the component image equal to what the pipeline compiles with, MLflow's auth and probes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TARGETS = ("base", "overlays/dev", "overlays/prod")
K8S_VERSION = "1.33.0"  # the oldest minor the README supports; strict: unknown fields are errors
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}


def _renderer() -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.skip("neither kustomize nor kubectl is installed (README 'Deploy on a cluster' says how)")


def render(target: str) -> list[dict]:
    out = subprocess.run([*_renderer(), str(INFRA / target)], check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def pod_spec(obj: dict) -> dict:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def test_every_object_validates_against_its_schema(rendered) -> None:
    import kubernetes_validate

    target, docs = rendered
    assert len(docs) >= 10, f"{target} rendered only {len(docs)} objects"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{target}: {doc['kind']}/{doc['metadata']['name']}: {err.message} at {list(err.path)}")


def test_no_secret_values_only_references(rendered) -> None:
    target, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"], f"{target} renders a Secret: values do not belong in git"
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"kubectl -n \S+ create secret generic ([a-z0-9-]+)", readme))
    referenced = set()
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        text = yaml.safe_dump(doc)
        referenced |= set(re.findall(r"secretName: ([a-z0-9-]+)", text))
        for c in containers(doc):
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
                else:
                    assert not re.search(r"pass|secret|token", env["name"], re.I) or "valueFrom" in env, (
                        f"{target}: {env['name']} looks like a secret given as a literal value")
            referenced |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
    assert referenced, f"{target} references no secrets at all"
    assert referenced <= documented, f"{target}: secrets {sorted(referenced - documented)} have no README command"


def test_images_are_pinned(rendered) -> None:
    target, docs = rendered
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            for c in containers(doc):
                image = c["image"]
                assert re.search(r":[\w.-]+$|@sha256:[0-9a-f]{64}$", image), f"{target}: {image} has no tag"
                assert not image.endswith(":latest"), f"{target}: {image} uses :latest"


def _decig_images(docs: list[dict]) -> set[str]:
    return {c["image"] for d in docs if d["kind"] in WORKLOADS for c in containers(d)
            if re.search(r"(^|/)decig[:@]", c["image"])}


def test_component_image_matches_what_the_pipeline_compiles(monkeypatch, tmp_path) -> None:
    from decig.kubeflow.image import IMAGE_ENV, RECORD_ENV, component_image

    # No override and no local build record: the version-pinned default both sides must agree on.
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    monkeypatch.setenv(RECORD_ENV, str(tmp_path / "absent.json"))
    compiled = component_image()
    for target in ("base", "overlays/dev"):
        assert _decig_images(render(target)) == {compiled}, target
    # prod pulls from a registry, but the tag (the release) must be the same one.
    prod = _decig_images(render("overlays/prod"))
    assert prod and {ref.rsplit("/", 1)[-1] for ref in prod} == {compiled}
    # The schedules job compiles the pipeline it uploads against its own image.
    for target in TARGETS:
        (job,) = [d for d in render(target) if d["kind"] == "CronJob"]
        (c,) = containers(job)
        assert {e["name"]: e.get("value") for e in c["env"]}["DECIG_COMPONENT_IMAGE"] == c["image"], target


def test_mlflow_server_has_auth_probes_and_configurable_store() -> None:
    for target in TARGETS:
        docs = render(target)
        (mlflow,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"]
        (c,) = mlflow["spec"]["template"]["spec"]["containers"]
        assert "--app-name=basic-auth" in c["args"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/health" == c["livenessProbe"]["httpGet"]["path"]
        env = {e["name"]: e for e in c["env"]}
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["name"] == "decig-mlflow-db"
        (config_ref,) = [e["configMapRef"]["name"] for e in c["envFrom"] if "configMapRef" in e]
        (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == config_ref]
        assert config["data"]["MLFLOW_S3_ENDPOINT_URL"].startswith(("http://", "https://"))
        assert config["data"]["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    dev = render("overlays/dev")
    store = [d for d in dev if d["kind"] == "Service" and d["metadata"]["name"] == "object-store"]
    assert store, "dev needs its own object store"
    dev_cfg = [d for d in dev if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("mlflow-config")][0]
    assert "object-store.decig-dev" in dev_cfg["data"]["MLFLOW_S3_ENDPOINT_URL"]
    assert not [d for d in render("overlays/prod") if d["metadata"]["name"] == "object-store"]


def test_schedules_configmap_is_the_checked_in_file_and_valid(tmp_path) -> None:
    from decig.kubeflow.schedules import load_schedules

    docs = render("base")
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("decig-schedules")]
    for name, text in cm["data"].items():
        assert text == (ROOT / "configs" / name).read_text(), f"infra/base/schedules/{name} differs from configs/{name}: run `make infra-sync`"
        (tmp_path / name).write_text(text)
    schedules = load_schedules(tmp_path / "schedules.yaml")
    assert len(schedules.schedules) >= 2
    (job,) = [d for d in docs if d["kind"] == "CronJob"]
    (c,) = containers(job)
    assert c["args"][:4] == ["schedule", "apply", "-f", "/config/schedules.yaml"]
