"""The demo path end to end on a tiny model: every stage runs and hands the next one real outputs."""

import json

import pytest

from decig.config import load_config
from decig.data.demo import generate_demo_dataset
from decig.demo_run import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_all_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    data = generate_demo_dataset(tmp_path / "data", n_train=8, n_val=0, n_test=3, size=32)
    cfg = load_config("configs/demo.yaml", [
        f"data.root={data}", "data.load_size=36", "data.crop_size=32", "model.arch=unet_32", "model.ngf=8",
        "model.input_size=32", "stage1.steps=6", "stage1.batch_size=2", "stage1.checkpoint_every=3",
        "finetune.steps=3", "finetune.batch_size=2", "data.max_eval=3",
    ])
    summary = run_demo(cfg, tmp_path / "run", fid=False)

    run = tmp_path / "run"
    assert set(summary["models"]) == {"vanilla", "teacher", "pruned", "student"}
    for stage in ("data", "stage1-vanilla", "stage1-decig", "prune", "finetune", "evaluate"):
        record = json.loads((run / stage / "run_record.json").read_text())
        assert record["config_hash"] == cfg.config_hash() or stage == "stage1-vanilla"
    assert json.loads((run / "data" / "run_record.json").read_text())["data_md5"] == summary["data_md5"]
    assert (run / "prune" / "plan.json").is_file() and (run / "evaluate" / "report.html").is_file()
    assert summary["alpha"] > 0  # the DECIG run calibrated its penalty weight
    assert summary["models"]["vanilla"]["latency"]["eager"]["speedup_vs_baseline"] == pytest.approx(1.0)
    student, pruned = summary["models"]["student"], summary["models"]["pruned"]
    assert student["cost"]["params"] == pruned["cost"]["params"]  # fine-tune keeps the pruned widths
    # Every stage's wall time is reported (the demo has a time budget), and the parts add up.
    stage_s = summary["stage_wall_time_s"]
    assert set(stage_s) == {"prepare_data", "profile", "stage1_vanilla", "stage1_decig", "prune", "finetune", "evaluate"}
    assert all(t > 0 for t in stage_s.values()) and sum(stage_s.values()) <= summary["wall_time_s"]
    # Stage I's file and Stage II's magnitudes are one format: Stage II can plan from the file.
    from decig.compress.stats import channel_stats_from_model, load_channel_stats
    from decig.models.persistence import load_model

    teacher, _ = load_model(run / "stage1-decig" / "generator")
    from_file = load_channel_stats(run / "stage1-decig" / "channel_stats.json")
    for name, values in channel_stats_from_model(teacher).items():
        assert from_file[name] == pytest.approx(values, rel=1e-5, abs=1e-7)
