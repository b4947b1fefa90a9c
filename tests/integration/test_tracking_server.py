"""Run hierarchy, plugin adoption, secret hygiene and failure behaviour against a real mlflow server."""

import socket

import mlflow
import pytest

from decig.tracking.mlflow_runs import KFP_RUN_ID_TAG, TrackingError, stage_run, with_retries

pytestmark = pytest.mark.integration


def test_nested_stage_runs_share_one_parent(mlflow_server):
    kw = dict(tracking_uri=mlflow_server.uri, experiment="hier", pipeline_run_id="run-abc")
    with stage_run(stage="profile", device="cpu", **kw) as a:
        a.log_metrics({"x": 1.0})
    with stage_run(stage="train", device="cpu", **kw) as b:
        b.log_metrics({"loss": 0.5}, step=3)
    client = mlflow.MlflowClient(mlflow_server.uri)
    ra, rb = client.get_run(a.run_id), client.get_run(b.run_id)
    assert a.parent_run_id == b.parent_run_id
    assert ra.data.tags["mlflow.parentRunId"] == a.parent_run_id
    assert ra.data.tags[KFP_RUN_ID_TAG] == "run-abc" and rb.data.tags["decig.stage"] == "train"
    assert ra.info.status == "FINISHED"
    parent = client.get_run(a.parent_run_id)
    assert parent.data.tags["decig.role"] == "pipeline"


def test_failed_stage_is_marked_failed(mlflow_server):
    with pytest.raises(RuntimeError):
        with stage_run(tracking_uri=mlflow_server.uri, experiment="hier", stage="boom") as r:
            raise RuntimeError("stage crashed")
    assert mlflow.MlflowClient(mlflow_server.uri).get_run(r.run_id).info.status == "FAILED"


def test_injected_plugin_run_is_adopted(mlflow_server, monkeypatch):
    client = mlflow.MlflowClient(mlflow_server.uri)
    exp = client.create_experiment("plugin")
    plugin_run = client.create_run(exp)
    monkeypatch.setenv("MLFLOW_RUN_ID", plugin_run.info.run_id)
    with stage_run(tracking_uri=mlflow_server.uri, experiment="plugin", stage="train", device="cpu") as r:
        r.log_metrics({"loss": 1.0})
    assert r.run_id == plugin_run.info.run_id
    got = client.get_run(plugin_run.info.run_id)
    assert got.data.metrics["loss"] == 1.0 and got.data.tags["decig.stage"] == "train"
    assert len(client.search_runs([exp])) == 1  # no second hierarchy


def test_secrets_never_reach_params_or_tags(mlflow_server, tmp_path):
    secret = "hunter2-very-secret"
    with stage_run(tracking_uri=mlflow_server.uri, experiment="secrets", stage="s") as r:
        r.log_params({"db": {"password": secret, "uri": f"postgresql://u:{secret}@h/db"}, "seed": 1})
        r.set_tags({"remote_token": secret, "note": f"https://x:{secret}@host"})
        r.log_dict({"aws_secret_access_key": secret}, "cfg.json")
    run = mlflow.MlflowClient(mlflow_server.uri).get_run(r.run_id)
    dumped = repr(run.data.params) + repr(run.data.tags)
    assert secret not in dumped and run.data.params["seed"] == "1"
    local = mlflow.MlflowClient(mlflow_server.uri).download_artifacts(r.run_id, "cfg.json", str(tmp_path))
    assert secret not in open(local).read()


def test_unreachable_server_fails_clearly_after_retries(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = mlflow.MlflowClient(dead)
    calls = []

    def attempt():
        calls.append(1)
        return client.get_experiment_by_name("x")

    with pytest.raises(TrackingError, match="look up failed after 3 attempts"):
        with_retries(attempt, what="look up", attempts=3, base_delay=0.01)
    assert len(calls) == 3
