"""The whole pipeline DAG through kfp.local on a tiny dataset and model, tracked in a real MLflow store.

What a user's `decig run` does, at a size that takes minutes: the real compiled DAG, one subprocess
per task, artifacts handed between tasks on disk, MLflow runs and a registered model version at the
end. Asserts on what lands on disk, in the KFP Metrics artifacts and in MLflow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from decig.config import load_config
from decig.data.demo import generate_demo_dataset
from decig.kubeflow.local_run import format_summary, run_local, summary_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]


def _task_dir(run_dir: Path, task: str) -> Path:
    # Tasks in a branch get a numeric suffix (the GPU and CPU branches hold copies): finetune-2, ...
    found = [p for p in run_dir.rglob("*") if p.is_dir() and re.sub(r"-\d+$", "", p.name) == task
             and (p / "executor_output.json").is_file()]
    assert len(found) == 1, f"expected one executed {task!r} task under {run_dir}, found {found}"
    return found[0]


def _kfp_metrics(task_dir: Path) -> dict[str, float]:
    out = json.loads((task_dir / "executor_output.json").read_text())
    return out["artifacts"]["metrics"]["artifacts"][0]["metadata"]


def test_full_dag_runs_locally_and_registers_the_student(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    data = generate_demo_dataset(tmp_path / "data", n_train=8, n_val=0, n_test=3, size=32)
    cfg = load_config(ROOT / "configs/demo.yaml", [
        f"data.root={data}", "data.load_size=36", "data.crop_size=32", "model.arch=unet_32", "model.ngf=8",
        "model.input_size=32", "stage1.steps=6", "stage1.batch_size=2", "stage1.checkpoint_every=3",
        "finetune.steps=3", "finetune.batch_size=2", "data.max_eval=3", "experiment=kfp-e2e",
    ])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_local(cfg, pipeline_root=tmp_path / "root", fid=False, tracking_uri=uri)

    # Evaluation: all four models side by side; the student keeps the pruned widths.
    metrics = result.evaluations["cpu"]
    assert set(metrics["models"]) == {"vanilla", "teacher", "pruned", "student"}
    rows = {r["model"]: r for r in summary_rows(metrics)}
    assert rows["student"]["params"] == rows["pruned"]["params"] <= rows["vanilla"]["params"]
    assert rows["vanilla"]["speedup_eager"] == pytest.approx(1.0) and rows["student"]["fps_eager"] > 0
    assert result.reports["cpu"].is_file() and "student" in result.reports["cpu"].read_text()
    assert "vanilla" in format_summary(result) and uri in format_summary(result)

    # Artifacts handed from task to task, each with its lineage record.
    run_dir = result.run_dir
    prep = _task_dir(run_dir, "prepare-data")
    ctx = json.loads((prep / "run_context").read_text())
    assert ctx["config"] == cfg.to_dict() and ctx["parent_run_id"]
    assert (prep / "data" / "dataset" / "train").is_dir()
    assert (_task_dir(run_dir, "prune") / "pruned" / "plan.json").is_file()
    export = _task_dir(run_dir, "export-model") / "exported"
    record = json.loads((export / "export.json").read_text())
    assert record["exports"][0]["format"] == "onnx" and record["exports"][0]["max_abs_diff"] <= 1e-4
    for task, out in (("train-stage1", "model"), ("finetune", "student"), ("export-model", "exported")):
        assert json.loads((_task_dir(run_dir, task) / out / "run_record.json").read_text())["config_hash"] == \
            cfg.config_hash()
    # The GPU branch and the coronet branch did not run for a cpu device with method decig.
    assert not any(p.name.startswith("train-coronet") for p in run_dir.rglob("*"))

    # KFP Metrics artifacts carry the stage numbers too.
    ev = _kfp_metrics(_task_dir(run_dir, "evaluate"))
    assert ev["student.params"] == rows["student"]["params"]
    assert "alpha" in _kfp_metrics(_task_dir(run_dir, "train-stage1"))
    reg = _kfp_metrics(_task_dir(run_dir, "register-model"))
    assert reg["version"] >= 1

    # MLflow: one parent run, FINISHED by the exit handler, with a nested run per stage.
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("kfp-e2e")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_id == ctx["parent_run_id"]
    assert parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == ctx["parent_run_id"]]
    stages = {r.data.tags.get("decig.stage") for r in children}
    assert {"prepare_data", "stage1_vanilla", "profile", "stage1", "prune", "finetune", "evaluate",
            "export"} <= stages
    assert all(r.info.status == "FINISHED" for r in children)

    # The student is registered as @candidate of the device's model.
    version = client.get_model_version_by_alias("kfp-e2e-cpu", "candidate")
    assert int(version.version) == int(reg["version"])


def test_a_failing_task_marks_the_parent_run_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exit handler runs after a failure and closes the parent MLflow run as FAILED."""
    from kfp import local
    from mlflow import MlflowClient

    from decig.kubeflow.compile import golden_image
    from decig.pipeline.dag import build_pipeline

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    # A dataset that disappears after `decig run` validated it: the first task fails on it.
    cfg = load_config(ROOT / "configs/demo.yaml", [f"data.root={tmp_path / 'gone'}", "experiment=kfp-fail"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               raise_on_error=False)
    build_pipeline(golden_image())(config_json=json.dumps(cfg.to_dict()), devices=["cpu"], tracking_uri=uri, fid=False)

    run_dir = next((tmp_path / "root").iterdir())
    assert not (run_dir / "train-vanilla").exists()  # nothing ran after the failed task
    status = json.loads((_task_dir(run_dir, "finalize-run") / "executor_output.json").read_text())
    assert status["parameterValues"]["Output"] == "FAILED"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("kfp-fail")
    parents = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FAILED"
