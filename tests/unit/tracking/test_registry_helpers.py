"""Pure parts of registry, audit, reproduce and stage tracking (no server needed)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from decig.config import load_config
from decig.core.errors import ConfigError, EvaluationError, TrackingError
from decig.tracking.audit import _params_config, resolve_ref
from decig.tracking.gate import GatePolicy, decide
from decig.tracking.model_registry import candidate_metrics, gate_policy, registered_model_name, version_metrics
from decig.tracking.reproduce import compare_metrics
from decig.tracking.stage_tracking import _metric_key, _numeric, close_pipeline_run, open_pipeline_run


def _metrics(tmp_path, fid=None):
    model = tmp_path / "student"
    row = lambda src, params, psnr, ms, speed: {  # noqa: E731
        "source": str(src), "quality": {"psnr_db": psnr}, "cost": {"params": params},
        "fid": {"fid": fid, "kid_mean": 0.01} if fid is not None else None,
        "latency": {"eager": {"median_ms": ms, "speedup_vs_baseline": speed}},
    }
    return model, {"baseline": "vanilla", "models": {
        "vanilla": row(tmp_path / "vanilla", 1000, 20.0, 4.0, 1.0),
        "student": row(model, 250, 19.5, 2.0, 2.0),
    }}


def test_candidate_metrics_picks_the_row_of_the_model_dir(tmp_path):
    model, metrics = _metrics(tmp_path, fid=30.0)
    export = {"exports": [{"format": "onnx", "max_abs_diff": 2e-6}, {"format": "pt2", "max_abs_diff": 1.0}]}
    got = candidate_metrics(metrics, model, export)
    assert got["evaluated_as"] == "student" and got["params_ratio"] == 250 / 1000
    assert got["latency_p50_ms"] == 2.0 and got["speedup_vs_vanilla"] == 2.0
    assert got["parity_max_abs_diff"] == 2e-6  # ONNX parity only: that is the registered export
    assert got["fid"] == 30.0 and got["kid"] == 0.01 and got["psnr"] == 19.5


def test_candidate_metrics_without_fid_or_export_leaves_gaps_for_the_gate(tmp_path):
    model, metrics = _metrics(tmp_path)
    got = candidate_metrics(metrics, model, None)
    assert got["fid"] is None and got["parity_max_abs_diff"] is None
    assert not decide(got, None, GatePolicy()).promote  # unmeasured -> never promoted


def test_candidate_metrics_refuses_an_unevaluated_model(tmp_path):
    _, metrics = _metrics(tmp_path)
    with pytest.raises(EvaluationError, match="was not evaluated"):
        candidate_metrics(metrics, tmp_path / "other", None)


def test_version_tags_round_trip_through_the_gate():
    tags = {"fid": "31.5", "psnr": "nan", "params": "250", "parity_max_abs_diff": "none"}
    got = version_metrics(SimpleNamespace(tags=tags))
    assert got["fid"] == 31.5 and math.isnan(got["psnr"]) and got["params"] == 250.0
    assert got["parity_max_abs_diff"] is None and got["latency_p50_ms"] is None
    reasons = " ".join(decide(got, None, GatePolicy()).reasons)
    assert "psnr is not a finite number" in reasons and "parity_max_abs_diff missing" in reasons


def test_gate_section_in_config_feeds_the_policy():
    cfg = load_config(overrides=["gate.psnr_tolerance=0.1", "gate.max_latency_ms=5", "gate.auto_promote=true"])
    policy = gate_policy(cfg)
    assert isinstance(policy, GatePolicy) and policy.psnr_tolerance == 0.1 and policy.max_latency_ms == 5
    with pytest.raises(ConfigError, match="gate.fid_tolerance"):
        load_config(overrides=["gate.fid_tolerance=-1"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(overrides=["gate.fid_tolerence=1"])


def test_registered_model_name_per_experiment_and_device():
    cfg = load_config(overrides=["experiment=facades"])
    assert registered_model_name(cfg, "cpu") == "facades-cpu"
    assert registered_model_name(cfg, "cuda:0") == "facades-cuda-0"


def test_compare_metrics_skips_timings_and_flags_drift():
    diffs = compare_metrics({"loss_G_L1": 1.0, "wall_time_s": 3.0, "alpha": 2.0},
                            {"loss_G_L1": 1.01, "wall_time_s": 9.0, "alpha": 3.0, "note": "x"}, rel_tol=0.05)
    assert set(diffs) == {"loss_G_L1", "alpha"}
    assert diffs["loss_G_L1"]["ok"] and not diffs["alpha"]["ok"]


def test_metric_helpers():
    assert _metric_key("student/psnr@x:1") == "student/psnr_x_1"
    assert _numeric(True) is None and _numeric(float("nan")) is None and _numeric(3) == 3.0


def test_audit_reference_parsing_and_param_fallback():
    with pytest.raises(TrackingError, match="models:/NAME@ALIAS"):
        resolve_ref(None, "models:/name")
    assert resolve_ref(None, "abc123") == ("abc123", None)
    assert _params_config({"a.b": "1", "a.c": "x", "d": "2"}) == {"a": {"b": "1", "c": "x"}, "d": "2"}


def test_pipeline_run_arguments_are_checked_before_any_network_call():
    with pytest.raises(TrackingError, match="status must be one of"):
        close_pipeline_run("r", status="OK", tracking_uri="http://127.0.0.1:9")
    with pytest.raises(TrackingError, match="non-empty"):
        open_pipeline_run(load_config(), pipeline_run_id=" ", tracking_uri="http://127.0.0.1:9")


@pytest.mark.slow  # imports mlflow and waits for refused connections
def test_unreachable_tracking_server_fails_clearly_before_the_stage_runs(monkeypatch):
    import socket

    from decig.tracking import mlflow_runs
    from decig.tracking.stage_tracking import track_stage

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    sleeps = []
    monkeypatch.setattr(mlflow_runs.time, "sleep", sleeps.append)  # keep the backoff, skip the waiting
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    ran = []
    with pytest.raises(TrackingError, match="failed after 4 attempts"):
        with track_stage(load_config(), "stage1", device="cpu", tracking_uri=dead):
            ran.append(1)
    assert not ran and sleeps == [1.0, 2.0, 4.0]  # exponential backoff, then a clear error
