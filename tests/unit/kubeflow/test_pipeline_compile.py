"""The compiled pipeline: the golden copy matches the source, and the fields a cluster depends on are there.

Compiled by kfp's real compiler; each test reads the IR YAML the way the KFP backend does (the
pipeline spec document plus the kubernetes platform spec document).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from decig.kubeflow.compile import REGENERATE, compile_pipeline, golden_image, golden_path
from decig.pipeline.dag import GPU_RESOURCE, TRAINING_RETRY

TRAINING_TASKS = ("train-vanilla", "train-stage1", "finetune", "train-coronet")
GPU_PLACED_TASKS = ("profile-device", "train-stage1", "prune", "finetune", "evaluate", "export-model", "train-coronet",
                    "evaluate-coronet")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("ir") / "p.yaml", image=golden_image())


@pytest.fixture(scope="module")
def docs(compiled: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    spec, platform = list(yaml.safe_load_all(compiled.read_text()))
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def _tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of every DAG (root and sub-DAGs), by task name."""
    out = {}
    for comp in [spec["root"], *spec["components"].values()]:
        out.update(comp.get("dag", {}).get("tasks", {}))
    return out


def _base(task_name: str) -> str:
    # The compiler suffixes repeated task names (the GPU and CPU branches): finetune, finetune-2, ...
    head, _, tail = task_name.rpartition("-")
    return head if tail.isdigit() else task_name


def _executor(spec: dict[str, Any], task: dict[str, Any]) -> str:
    return spec["components"][task["componentRef"]["name"]]["executorLabel"]


def test_golden_yaml_matches_the_source(compiled: Path) -> None:
    golden = golden_path()
    assert golden.is_file(), f"golden pipeline missing; regenerate with: {REGENERATE}"
    assert compiled.read_text() == golden.read_text(), (
        f"pipeline/decig_pipeline.yaml is out of date with the pipeline source; regenerate with: {REGENERATE}"
    )


def test_compile_is_deterministic(compiled: Path, tmp_path: Path) -> None:
    again = compile_pipeline(tmp_path / "again.yaml", image=golden_image())
    assert again.read_text() == compiled.read_text()


def test_training_tasks_retry_with_backoff(docs: Any) -> None:
    spec, _ = docs
    retried = {}
    for name, task in _tasks(spec).items():
        if _base(name) in TRAINING_TASKS:
            retried[name] = task["retryPolicy"]
    assert {_base(n) for n in retried} == set(TRAINING_TASKS)
    for policy in retried.values():
        assert policy == {"maxRetryCount": TRAINING_RETRY["num_retries"], "backoffDuration": "60s",
                          "backoffFactor": TRAINING_RETRY["backoff_factor"], "backoffMaxDuration": "900s"}
    others = [n for n, t in _tasks(spec).items() if _base(n) not in TRAINING_TASKS and "retryPolicy" in t]
    assert others == []  # evaluation/registration failures are not transient: no blind retries


def test_cuda_branch_requests_gpu_and_lands_on_gpu_nodes(docs: Any) -> None:
    spec, k8s = docs
    gpu_branch = spec["components"][spec["components"]["comp-for-loop-2"]["dag"]["tasks"]["condition-3"]
                                    ["componentRef"]["name"]]
    assert "== 'cuda'" in spec["components"]["comp-for-loop-2"]["dag"]["tasks"]["condition-3"]["triggerPolicy"][
        "condition"]
    gpu_execs, cpu_execs = set(), set()
    for comp in spec["components"].values():
        for name, task in comp.get("dag", {}).get("tasks", {}).items():
            if _base(name) in GPU_PLACED_TASKS and "executorLabel" in spec["components"][task["componentRef"]["name"]]:
                resources = spec["deploymentSpec"]["executors"][_executor(spec, task)]["container"].get("resources", {})
                (gpu_execs if "accelerator" in resources else cpu_execs).add(_executor(spec, task))
    assert gpu_execs and cpu_execs and len(gpu_execs) == len(cpu_execs)  # one GPU and one CPU copy of each
    for label in gpu_execs:
        acc = spec["deploymentSpec"]["executors"][label]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == GPU_RESOURCE and acc["resourceCount"] == "1"
        assert k8s[label]["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
        assert k8s[label]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    for label in cpu_execs:
        assert "nodeSelector" not in k8s[label] and "tolerations" not in k8s[label]
    assert "profile-device" in gpu_branch["dag"]["tasks"]  # the GPU branch holds the device's chain


def test_side_effect_tasks_are_never_cached(docs: Any) -> None:
    spec, _ = docs
    for name, task in _tasks(spec).items():
        enabled = task.get("cachingOptions", {}).get("enableCache", False)
        if _base(name) in ("register-model", "finalize-run"):
            assert not enabled, name
        elif "componentRef" in task and "executorLabel" in spec["components"][task["componentRef"]["name"]]:
            assert enabled, f"{name} should stay cacheable"


def test_credentials_come_from_secrets_by_name(docs: Any) -> None:
    spec, k8s = docs
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["s3_secret"]["defaultValue"] == "decig-s3"
    assert params["mlflow_secret"]["defaultValue"] == "decig-mlflow"
    assert set(k8s) == set(spec["deploymentSpec"]["executors"]) - {"exec-device-kind"}
    for cfg in k8s.values():
        wiring = {tuple(sorted((m["secretKey"], m["envVar"]) for m in s["keyToEnv"])): s for s in cfg["secretAsEnv"]}
        s3 = wiring[(("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"))]
        assert s3["secretNameParameter"]["componentInputParameter"].endswith("s3_secret")
        ml = wiring[(("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD"), ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
                     ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME"))]
        assert ml["secretNameParameter"]["componentInputParameter"].endswith("mlflow_secret")
    text = yaml.safe_dump(spec)
    assert "testing-secret" not in text and "AKIA" not in text  # names only, never values


def test_components_use_the_pinned_image_without_pip_install(docs: Any) -> None:
    spec, _ = docs
    for label, ex in spec["deploymentSpec"]["executors"].items():
        container = ex["container"]
        assert container["image"] == golden_image(), label
        assert "pip install" not in " ".join(container["command"]), label  # install_kfp_package=False


def test_image_flag_reaches_every_executor(tmp_path: Path) -> None:
    image = "registry.example/decig@sha256:" + "0" * 64
    spec, _ = yaml.safe_load_all(compile_pipeline(tmp_path / "p.yaml", image=image).read_text())
    assert {ex["container"]["image"] for ex in spec["deploymentSpec"]["executors"].values()} == {image}


def test_pipeline_parameters_and_exit_handler(docs: Any) -> None:
    spec, _ = docs
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["devices"]["defaultValue"] == ["cpu"] and params["devices"]["parameterType"] == "LIST"
    assert params["method"]["defaultValue"] == "decig"
    assert {"config_json", "reg", "penalty_shape", "arch", "dataset", "stage1_steps", "finetune_steps", "seed",
            "tracking_uri", "auto_promote", "image_digest"} <= set(params)
    root_tasks = spec["root"]["dag"]["tasks"]
    assert root_tasks["finalize-run"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    loop = next(t for t in _tasks(spec).values() if "parameterIterator" in t)
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("devices")
