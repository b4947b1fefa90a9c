"""Stages tracked end to end through a real mlflow server (S3 artifacts on moto); audit and reproduce.

One tiny pipeline (prepare_data -> profile -> Stage I of a 32x32 U-Net, 3 steps) is tracked under
one parent run; the tests then read back what landed in MLflow, audit it and reproduce Stage I.
"""

from __future__ import annotations

import json
import os

import mlflow
import pytest
import torch

from decig import stages
from decig.cli import main as decig_main
from decig.config import load_config
from decig.data.demo import generate_demo_dataset
from decig.core.errors import TrackingError
from decig.tracking.audit import audit_record
from decig.tracking.mlflow_runs import KFP_RUN_ID_TAG
from decig.tracking.reproduce import reproduce_run
from decig.tracking.stage_tracking import close_pipeline_run, open_pipeline_run, track_stage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = [
    "experiment=tracked", "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32",
    "data.load_size=36", "data.crop_size=32", "stage1.steps=3", "stage1.batch_size=2", "stage1.device=cpu",
    "stage1.log_every=1", "stage1.checkpoint_every=3", "stage1.penalty.factor=device",
]


@pytest.fixture(scope="module")
def tracked(mlflow_server, tmp_path_factory):
    """Run the tiny pipeline under tracking; returns ids and paths."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tracked")
    data = generate_demo_dataset(root / "data", n_train=4, n_val=0, n_test=2, size=32)
    cfg = load_config(overrides=[*TINY, f"data.root={data}", f"tracking.uri={mlflow_server.uri}"])
    parent = open_pipeline_run(cfg, pipeline_run_id="pipe-tiny-1")
    assert open_pipeline_run(cfg, pipeline_run_id="pipe-tiny-1") == parent  # idempotent by tag
    ids = {}
    with track_stage(cfg, "prepare_data", parent_run_id=parent) as t:
        res = stages.prepare_data(cfg, root / "prep")
        t.finish(res, root / "prep")
        ids["data"] = t.run_id
    with track_stage(cfg, "profile", device="cpu", parent_run_id=parent) as t:
        prof = stages.profile_device(cfg, "cpu", root / "profile" / "profile.json", repeats=2)
        t.finish(prof, prof["profile"])  # a single-file output
        t.log_input_dir("profile_json", prof["profile"])
        ids["profile"] = t.run_id
    with track_stage(cfg, "stage1", device="cpu", parent_run_id=parent) as t:
        t.log_input_dir("data_root", data)
        t.log_input_dir("profile", prof["profile"])
        res = stages.stage1(cfg, data, prof["profile"], root / "s1", on_metrics=t.on_metrics)
        t.finish(res, root / "s1")
        ids["stage1"] = t.run_id
    close_pipeline_run(parent, status="FINISHED", tracking_uri=mlflow_server.uri)
    return {"parent": parent, "ids": ids, "root": root, "cfg": cfg, "data_md5": res.get("data_md5"),
            "prep_md5": json.loads((root / "prep" / "run_record.json").read_text())["data_md5"],
            "profile_hash": prof["profile_hash"], "uri": mlflow_server.uri}


def test_stage_runs_nest_under_one_parent_with_params_metrics_artifacts(tracked):
    client = mlflow.MlflowClient(tracked["uri"])
    parent = client.get_run(tracked["parent"])
    assert parent.info.status == "FINISHED" and parent.data.tags[KFP_RUN_ID_TAG] == "pipe-tiny-1"
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{tracked['parent']}'")
    assert {r.data.tags["decig.stage"] for r in children} == {"prepare_data", "profile", "stage1"}
    s1 = client.get_run(tracked["ids"]["stage1"])
    assert s1.data.params["model.arch"] == "unet_32" and s1.data.params["stage1.steps"] == "3"
    # per-step training metrics: one point per logged step
    history = client.get_metric_history(s1.info.run_id, "loss_G_L1")
    assert {m.step for m in history} == {1, 2, 3}  # the final value is logged at the last step
    assert s1.data.tags["decig.config_hash"] == tracked["cfg"].config_hash()
    arts = {f.path for f in client.list_artifacts(s1.info.run_id, "outputs")}
    assert {"outputs/run_record.json", "outputs/generator", "outputs/channel_stats.png"} <= arts
    assert "outputs/checkpoints" not in arts  # resumable checkpoints stay local
    assert [f.path for f in client.list_artifacts(tracked["ids"]["profile"], "outputs")] == ["outputs/profile.json"]


def test_data_md5_is_logged_as_dataset_input_and_on_parent(tracked):
    client = mlflow.MlflowClient(tracked["uri"])
    run = client.get_run(tracked["ids"]["data"])
    digests = [d.dataset.digest for d in run.inputs.dataset_inputs]
    assert digests == [tracked["prep_md5"]]
    assert client.get_run(tracked["parent"]).data.tags["decig.data_md5"] == tracked["prep_md5"]


def test_audit_prints_complete_record(tracked, capsys):
    rec = audit_record(mlflow.MlflowClient(tracked["uri"]), tracked["ids"]["stage1"])
    assert rec["missing"] == []
    assert rec["data_md5"] == tracked["prep_md5"] and rec["device_profile_hash"] == tracked["profile_hash"]
    assert rec["config_hash"] == tracked["cfg"].config_hash() and rec["config"] == tracked["cfg"].to_dict()
    assert rec["pipeline_run"]["pipeline_run_id"] == "pipe-tiny-1" and torch.__version__.startswith(rec["packages"]["torch"])
    assert decig_main(["audit", tracked["ids"]["stage1"], "--tracking-uri", tracked["uri"]]) == 0
    out = capsys.readouterr().out
    for needle in (rec["git_sha"], tracked["prep_md5"], tracked["profile_hash"], "pipe-tiny-1", "torch==",
                   "arch: unet_32", "missing       : nothing"):
        assert needle in out


def test_audit_refuses_bad_reference(tracked):
    with pytest.raises(TrackingError, match="models:/NAME@ALIAS"):
        audit_record(mlflow.MlflowClient(tracked["uri"]), "models:/a/b/c")


def test_reproduce_matches_then_detects_tampered_weights(tracked, tmp_path, capsys):
    run_id = tracked["ids"]["stage1"]
    out = reproduce_run(run_id, tracking_uri=tracked["uri"], workdir=tmp_path / "r1")
    original = (tracked["root"] / "s1" / "generator" / "model.pt.sha256").read_text().split()[0]
    assert out["match"] and out["method"] == "weights_sha256" and out["reproduced_sha256"] == original
    # Tamper with the stored weights: the verdict must flip (the stored file is hashed, not its .sha256).
    client = mlflow.MlflowClient(tracked["uri"])
    bad = tmp_path / "bad" / "model.pt"
    bad.parent.mkdir()
    state = torch.load(tracked["root"] / "s1" / "generator" / "model.pt", weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] + 1e-3
    torch.save(state, bad)
    client.log_artifact(run_id, str(bad), "outputs/generator")
    try:
        assert decig_main(["reproduce", run_id, "--tracking-uri", tracked["uri"], "--workdir", str(tmp_path / "r2")]) == 1
        assert "MISMATCH by weights_sha256" in capsys.readouterr().out
    finally:  # put the true weights back for the other tests of this module
        client.log_artifact(run_id, str(tracked["root"] / "s1" / "generator" / "model.pt"), "outputs/generator")


def test_plugin_injected_run_is_adopted(tracked, monkeypatch):
    client = mlflow.MlflowClient(tracked["uri"])
    exp = client.get_experiment_by_name("tracked").experiment_id
    plugin_parent = client.create_run(exp, tags={KFP_RUN_ID_TAG: "pipe-plugin"})
    plugin_task = client.create_run(exp, tags={"mlflow.parentRunId": plugin_parent.info.run_id})
    monkeypatch.setenv("MLFLOW_RUN_ID", plugin_task.info.run_id)
    cfg = tracked["cfg"]
    assert open_pipeline_run(cfg, pipeline_run_id="pipe-plugin") == plugin_parent.info.run_id
    with track_stage(cfg, "profile", device="cpu") as t:
        t.on_metrics(1, {"x": 2.0, "note": "text is skipped"})
    assert t.run_id == plugin_task.info.run_id
    got = client.get_run(plugin_task.info.run_id)
    assert got.data.metrics == {"x": 2.0} and got.data.tags["decig.stage"] == "profile"
    assert os.environ["MLFLOW_RUN_ID"] == plugin_task.info.run_id


def test_close_pipeline_run_rejects_unknown_status(tracked):
    with pytest.raises(TrackingError, match="status must be one of"):
        close_pipeline_run(tracked["parent"], status="DONE", tracking_uri=tracked["uri"])


def test_reproduce_a_registered_model_version_by_alias(tracked, tmp_path):
    from decig.tracking.model_registry import register_candidate

    cfg, root = tracked["cfg"], tracked["root"]
    model = root / "s1" / "generator"
    stages.evaluate(cfg, {"s1": str(model)}, root / "data", root / "eval", baseline="s1", teacher=None, fid=False,
                    backends=("eager",), threads=1, repeats=2)
    got = register_candidate(cfg, device="cpu", model_dir=model, eval_dir=root / "eval",
                             parent_run_id=tracked["parent"], tracking_uri=tracked["uri"])
    version = mlflow.MlflowClient(tracked["uri"]).get_model_version(got["name"], got["version"])
    assert version.tags["source_run_id"] == tracked["ids"]["stage1"]
    out = reproduce_run(f"models:/{got['name']}@candidate", tracking_uri=tracked["uri"], workdir=tmp_path / "r")
    assert out["run_id"] == tracked["ids"]["stage1"] and out["stage"] == "stage1" and out["match"]


def test_reproduce_finetune_from_recorded_local_inputs(tracked, tmp_path):
    """Inputs not uploaded: reproduce falls back to the recorded local paths (same machine)."""
    cfg = load_config(overrides=[*TINY, f"data.root={tracked['root'] / 'data'}", f"tracking.uri={tracked['uri']}",
                                 "finetune.steps=2", "finetune.batch_size=2", "finetune.device=cpu"])
    root = tracked["root"]
    stages.prune(cfg, root / "s1", root / "prune")
    with track_stage(cfg, "finetune", device="cpu", parent_run_id=tracked["parent"]) as t:
        res = stages.finetune(cfg, root / "s1", root / "prune", root / "data", root / "ft", on_metrics=t.on_metrics)
        t.finish(res, root / "ft")
    out = reproduce_run(t.run_id, tracking_uri=tracked["uri"], workdir=tmp_path / "r")
    expected = (root / "ft" / "generator" / "model.pt.sha256").read_text().split()[0]
    assert out["stage"] == "finetune" and out["match"] and out["reproduced_sha256"] == expected
