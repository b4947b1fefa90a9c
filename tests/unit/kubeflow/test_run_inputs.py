"""Bad input to `decig run` / `decig pipeline submit` fails with one clear line before any task runs,
and the small pure helpers the components share behave as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decig.cli import main
from decig.components import runtime
from decig.config import load_config
from decig.core.errors import ConfigError, DeviceError
from decig.kubeflow.image import IMAGE_ENV, image_digest, resolve_image

ROOT = Path(__file__).resolve().parents[3]
DEMO = str(ROOT / "configs/demo.yaml")


@pytest.mark.parametrize("extra,message", [
    (["--set", "devices=[tpu]"], "unknown device name(s) ['tpu']"),
    (["--set", "devices=[cuda]"], "asks for a GPU"),
    (["--set", "data.root=/nonexistent/facades"], "dataset root /nonexistent/facades does not exist"),
    (["--set", "stage1.stepz=3"], "stage1.stepz: unknown key"),
    (["--set", "method=distill"], "method: Input should be 'decig' or 'coronet'"),
])
def test_decig_run_refuses_bad_input_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], extra: list[str],
                                                          message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["run", "-c", DEMO, "--pipeline-root", str(tmp_path / "root"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "root").exists() and not (tmp_path / "mlflow.db").exists()


def test_submit_refuses_unknown_device_before_contacting_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on loopback: if validation did not stop it first, the client would try to connect.
    code = main(["pipeline", "submit", "--host", "http://127.0.0.1:9", "-c", DEMO, "--set", "devices=[cpu,gpu0]"])
    assert code == 2 and "unknown device name(s) ['gpu0']" in capsys.readouterr().err


def test_pipeline_overrides_only_for_given_parameters() -> None:
    assert runtime.pipeline_overrides() == []
    assert runtime.pipeline_overrides(method="coronet") == ["method=coronet"]
    got = runtime.pipeline_overrides(reg="low", penalty_shape="exponential", arch="unet_256", dataset="/d",
                                     stage1_steps=10, finetune_steps=5, seed=3)
    assert got == ["stage1.penalty.reg=low", "stage1.penalty.shape=exponential", "model.arch=unet_256",
                   "data.root=/d", "stage1.steps=10", "finetune.steps=5", "seed=3"]
    cfg = load_config(DEMO)
    resolved = runtime.resolve_pipeline_config(json.dumps(cfg.to_dict()), got)
    assert (resolved.stage1.penalty.reg, resolved.stage1.steps, resolved.seed) == ("low", 10, 3)
    with pytest.raises(ConfigError, match="stage1.penalty.reg"):
        runtime.resolve_pipeline_config(json.dumps(cfg.to_dict()), ["stage1.penalty.reg=medium"])


def test_run_context_round_trip(tmp_path: Path) -> None:
    cfg = load_config(DEMO)
    runtime.write_run_context(tmp_path / "ctx", cfg, "parent-123")
    ctx = runtime.context(str(tmp_path / "ctx"), "off", "job-1", "cpu")
    assert ctx.cfg == cfg and ctx.parent_run_id == "parent-123" and ctx.device == "cpu"
    assert not ctx.tracking_enabled


@pytest.mark.parametrize("name,kind", [("cpu", "cpu"), ("CUDA:1", "cuda"), ("cuda", "cuda"), ("mac", "mac")])
def test_device_kind(name: str, kind: str) -> None:
    assert runtime.device_kind(name) == kind


def test_device_kind_refuses_unknown() -> None:
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        runtime.device_kind("tpu")


def test_kfp_metrics_keeps_finite_numbers_only() -> None:
    logged: dict[str, float] = {}

    class Sink:
        def log_metric(self, key: str, value: float) -> None:
            logged[key] = value

    runtime.kfp_metrics({"student/psnr_db": 20.5, "n": 3, "flag": True, "path": "/x", "fid": float("nan")}, Sink())
    assert logged == {"student.psnr_db": 20.5, "n": 3.0}


def test_image_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from decig import __version__

    monkeypatch.chdir(tmp_path)  # no build/image.json here
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    monkeypatch.delenv("DECIG_IMAGE_RECORD", raising=False)
    assert resolve_image(None) == f"decig:{__version__}"
    pinned = "registry.example:5000/ml/decig@sha256:" + "ab" * 32
    monkeypatch.setenv(IMAGE_ENV, pinned)
    assert resolve_image(None) == pinned and image_digest(pinned) == "sha256:" + "ab" * 32
    assert resolve_image("decig:dev") == "decig:dev"  # the flag beats the env var
    for bad in ("decig", "Decig:1", "decig@sha256:123"):
        with pytest.raises(ConfigError, match="not a pinned image reference|is not an image reference"):
            resolve_image(bad)
