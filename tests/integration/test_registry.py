"""Registration, promotion gate and rollback through a real mlflow server (S3 artifacts on moto).

Two tiny Stage-I generators (vanilla and DECIG, 32x32, 2 steps) are evaluated for real; the
candidate versions differ only in the evaluation numbers they are registered with (a copy of
the real metrics.json with the candidate's PSNR moved), which is exactly what the gate reads.
"""

from __future__ import annotations

import json
import shutil

import mlflow
import numpy as np
import pytest
import torch

from decig import stages
from decig.config import load_config
from decig.data.demo import generate_demo_dataset
from decig.core.errors import CheckpointError, TrackingError
from decig.models.persistence import load_model
from decig.tracking.audit import audit_record
from decig.tracking.model_registry import promote, register_candidate, rollback
from decig.tracking.stage_tracking import open_pipeline_run, track_stage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "pw-registry-do-not-leak"
TINY = [
    "experiment=reg", "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32",
    "data.load_size=36", "data.crop_size=32", "stage1.steps=2", "stage1.batch_size=2", "stage1.device=cpu",
    "stage1.penalty.factor=mac", "gate.fid_tolerance=null", "gate.psnr_tolerance=0.5",
]


@pytest.fixture(scope="module")
def evaluated(mlflow_server, tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("registry")
    data = generate_demo_dataset(root / "data", n_train=4, n_val=0, n_test=2, size=32)
    host = mlflow_server.uri.split("://", 1)[1]
    # Credentials in the tracking URI must never reach params or tags (the server ignores them).
    cfg = load_config(overrides=[*TINY, f"data.root={data}", f"tracking.uri=http://ci:{SECRET}@{host}"])
    vanilla = load_config(overrides=[*TINY, f"data.root={data}", "stage1.penalty.shape=none"])
    stages.stage1(vanilla, data, None, root / "vanilla")
    stages.stage1(cfg, data, None, root / "decig")
    stages.evaluate(cfg, {"vanilla": str(root / "vanilla" / "generator"), "student": str(root / "decig" / "generator")},
                    data, root / "eval", fid=False, backends=("eager",), threads=1, repeats=3)
    parent = open_pipeline_run(cfg, pipeline_run_id="pipe-reg-1")
    # The data and profile stages put data md5 and profile hash on the pipeline run, as in a real run.
    with track_stage(cfg, "prepare_data", parent_run_id=parent) as t:
        t.finish(stages.prepare_data(cfg, root / "prep"), root / "prep")
    with track_stage(cfg, "profile", device="cpu", parent_run_id=parent) as t:
        t.finish(stages.profile_device(cfg, "cpu", root / "profile" / "p.json", repeats=2), root / "profile")
    return {"cfg": cfg, "root": root, "model": root / "decig" / "generator", "parent": parent,
            "uri": mlflow_server.uri}


def _eval_with_psnr_shift(evaluated, tmp_path, shift: float):
    """A copy of the real evaluation output with the candidate's PSNR moved by ``shift`` dB."""
    out = tmp_path / f"eval{shift:+g}"
    shutil.copytree(evaluated["root"] / "eval", out)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["models"]["student"]["quality"]["psnr_db"] += shift
    (out / "metrics.json").write_text(json.dumps(metrics))
    return out


def test_register_promote_refuse_promote_rollback(evaluated, tmp_path):
    cfg, uri = evaluated["cfg"], evaluated["uri"]
    client = mlflow.MlflowClient(uri)
    kw = dict(device="cpu", model_dir=evaluated["model"], parent_run_id=evaluated["parent"], tracking_uri=uri)

    first = register_candidate(cfg, eval_dir=evaluated["root"] / "eval", auto_promote=True,
                               image_digest="sha256:abc123", **kw)
    assert first["name"] == "reg-cpu" and first["promoted"] and first["alias"] == "candidate"
    v1 = client.get_model_version("reg-cpu", first["version"])
    real = json.loads((evaluated["root"] / "eval" / "metrics.json").read_text())["models"]["student"]
    assert float(v1.tags["psnr"]) == pytest.approx(real["quality"]["psnr_db"])
    assert float(v1.tags["latency_p50_ms"]) == pytest.approx(real["latency"]["eager"]["median_ms"])
    assert float(v1.tags["parity_max_abs_diff"]) <= 1e-4 and v1.tags["image_digest"] == "sha256:abc123"
    assert v1.tags["pipeline_run_id"] == "pipe-reg-1" and v1.tags["config_hash"] == cfg.config_hash()
    assert v1.tags["gate_decision"] == "promote" and "no champion" in v1.tags["gate_reasons"]
    for key in ("fid", "kid", "speedup_vs_vanilla", "params_ratio", "data_md5", "git_sha"):
        assert key in v1.tags
    assert client.get_model_version_by_alias("reg-cpu", "champion").version == first["version"]

    # A worse candidate: refused, champion unchanged, reasons with numbers in its tags.
    worse = register_candidate(cfg, eval_dir=_eval_with_psnr_shift(evaluated, tmp_path, -5.0), **kw)
    assert client.get_model_version_by_alias("reg-cpu", "candidate").version == worse["version"]
    decision = promote("reg-cpu", policy=cfg.gate, tracking_uri=uri)
    assert not decision.promote
    v2 = client.get_model_version("reg-cpu", worse["version"])
    assert v2.tags["gate_decision"] == "reject (psnr)" and "FAIL psnr" in v2.tags["gate_reasons"]
    assert "worse by 5" in v2.tags["gate_reasons"] and v2.tags["gate_compared_with"] == f"v{first['version']}"
    assert client.get_model_version_by_alias("reg-cpu", "champion").version == first["version"]

    # A better one moves @champion; the old champion becomes @previous.
    better = register_candidate(cfg, eval_dir=_eval_with_psnr_shift(evaluated, tmp_path, 1.0), **kw)
    assert promote("reg-cpu", better["version"], policy=cfg.gate, tracking_uri=uri).promote
    assert client.get_model_version_by_alias("reg-cpu", "champion").version == better["version"]
    assert client.get_model_version_by_alias("reg-cpu", "previous").version == first["version"]

    out = rollback("reg-cpu", tracking_uri=uri)
    assert out == {"name": "reg-cpu", "champion": first["version"], "previous": better["version"]}
    assert client.get_model_version_by_alias("reg-cpu", "champion").version == first["version"]

    # Audit of the champion reaches its lineage through the version's source run.
    rec = audit_record(client, "models:/reg-cpu@champion")
    assert rec["model_version"]["version"] == first["version"] and rec["pipeline_run"]["pipeline_run_id"] == "pipe-reg-1"
    assert rec["config_hash"] == cfg.config_hash() and rec["image_digest"] == "sha256:abc123"
    assert rec["missing"] == [] and rec["packages"]["mlflow"] == mlflow.__version__


def test_registered_generator_loads_for_any_input_size(evaluated):
    uri = evaluated["uri"]
    got = register_candidate(evaluated["cfg"], device="cpu", model_dir=evaluated["model"],
                             eval_dir=evaluated["root"] / "eval", tracking_uri=uri)
    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model(f"models:/{got['name']}/{got['version']}")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)  # trained at 32x32
    model, _ = load_model(evaluated["model"])
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(served.predict(x), expected, atol=1e-6)
    names = {f.path for f in mlflow.MlflowClient(uri).list_artifacts(got["run_id"], "model/artifacts")}
    assert "model/artifacts/model.onnx" in names


def test_secrets_never_reach_runs_or_versions(evaluated):
    client = mlflow.MlflowClient(evaluated["uri"])
    exp = client.get_experiment_by_name("reg")
    for run in client.search_runs([exp.experiment_id]):
        assert SECRET not in repr(run.data.params) + repr(run.data.tags)
    for mv in client.search_model_versions("name = 'reg-cpu'"):
        assert SECRET not in repr(mv.tags)


def test_broken_model_dir_registers_nothing(evaluated, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(evaluated["model"], broken)
    (broken / "model.pt.sha256").write_text("0" * 64 + "  model.pt\n")
    client = mlflow.MlflowClient(evaluated["uri"])
    before = len(client.search_model_versions("name = 'reg-cpu'"))
    with pytest.raises(CheckpointError, match="corrupted or was changed"):
        register_candidate(evaluated["cfg"], device="cpu", model_dir=broken, eval_dir=evaluated["root"] / "eval",
                           tracking_uri=evaluated["uri"])
    assert len(client.search_model_versions("name = 'reg-cpu'")) == before


def test_rollback_without_previous_fails_clearly(evaluated):
    with pytest.raises(TrackingError, match="no @previous"):
        rollback("no-such-model", tracking_uri=evaluated["uri"])
