"""Latency harness: device-name selection, interleaving order, statistics and the end-to-end report."""

from __future__ import annotations

import pytest
import torch

from decig.core.errors import EvaluationError
from decig.evaluate import latency as latency_mod
from decig.evaluate.latency import Candidate, interleaved_samples, measure_latency, parse_backends, summarize
from decig.evaluate.runners import check_plan_available, execution_plan
from decig.models.zoo import create_model


def test_cpu_plan_uses_cpu_provider_without_sync() -> None:
    plan = execution_plan("CPU")
    assert plan.device == "cpu" and plan.kind == "cpu"
    assert not plan.torch_synchronize
    assert plan.ort_provider_names == ("CPUExecutionProvider",)


@pytest.mark.parametrize(("name", "index"), [("cuda", 0), ("cuda:0", 0), ("cuda:3", 3)])
def test_cuda_plan_synchronizes_and_prefers_cuda_provider(name: str, index: int) -> None:
    plan = execution_plan(name)
    assert plan.device == f"cuda:{index}" and plan.kind == "cuda"
    assert plan.torch_synchronize
    assert plan.ort_provider_names == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert plan.ort_providers[0][1] == {"device_id": index}


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps", ""])
def test_unknown_device_names_are_refused(name: str) -> None:
    with pytest.raises(EvaluationError, match="unknown timing device"):
        execution_plan(name)


def test_mac_proxy_cannot_be_timed() -> None:
    with pytest.raises(EvaluationError, match="MAC-count proxy"):
        execution_plan("mac")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without a GPU")
def test_cuda_plan_fails_early_without_a_gpu() -> None:
    with pytest.raises(EvaluationError, match="no CUDA GPU"):
        check_plan_available(execution_plan("cuda"), ["eager"])


def test_summary_statistics() -> None:
    stats = summarize([float(v) for v in range(1, 11)])  # 1..10 ms
    assert stats["median_ms"] == 5.5
    assert stats["p90_ms"] == pytest.approx(9.1)  # linear interpolation
    assert stats["min_ms"] == 1.0 and stats["mean_ms"] == 5.5


class FakeRunner:
    def __init__(self, name: str, backend: str, log: list[str]) -> None:
        self.name, self.backend, self.log = name, backend, log

    def __call__(self) -> None:
        self.log.append(f"{self.name}/{self.backend}")


def test_rounds_interleave_rotate_and_pause_after_ort(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    sleeps: list[str] = []
    monkeypatch.setattr(latency_mod.time, "sleep", lambda s: sleeps.append(f"{calls[-1]}:{s}"))
    runners = [FakeRunner("a", "eager", calls), FakeRunner("a", "onnx", calls), FakeRunner("b", "eager", calls)]
    samples = interleaved_samples(runners, warmup=1, repeats=3, gap_s=0.02)
    timed = calls[3:]  # after one warm-up round of all three
    assert calls[:3] == ["a/eager", "a/onnx", "b/eager"]
    assert timed == ["a/eager", "a/onnx", "b/eager", "a/onnx", "b/eager", "a/eager", "b/eager", "a/eager", "a/onnx"]
    assert all(s.startswith("a/onnx:") and s.endswith(":0.02") for s in sleeps)  # a gap after every ORT call only
    assert len(sleeps) == 4  # 1 warm-up + 3 timed
    assert [len(s) for s in samples] == [3, 3, 3]


def test_argument_errors_are_clear() -> None:
    model = create_model("unet_32", ngf=4)
    one = Candidate("m", model, (1, 3, 32, 32))
    with pytest.raises(EvaluationError, match="unknown backend"):
        parse_backends("eager,tensorrt")
    with pytest.raises(EvaluationError, match="baseline 'x'"):
        measure_latency([one], baseline="x", backends=["eager"])
    with pytest.raises(EvaluationError, match="unique"):
        measure_latency([one, one], baseline="m", backends=["eager"])


def test_end_to_end_report_on_two_tiny_unets() -> None:
    torch.set_num_threads(2)
    big = Candidate("big", create_model("unet_32", ngf=16), (1, 3, 32, 32))
    small = Candidate("small", create_model("unet_32", ngf=4), (1, 3, 32, 32))
    report = measure_latency([big, small], baseline="big", backends="eager,onnx", threads=1, warmup=1, repeats=5, gap_ms=1)
    assert torch.get_num_threads() == 2  # restored after pinning to 1
    assert report.baseline == "big" and report.baseline_backend == "eager"
    pairs = {(t.model, t.backend) for t in report.timings}
    assert pairs == {("big", "eager"), ("big", "onnx"), ("small", "eager"), ("small", "onnx")}
    base = report.get("big", "eager")
    assert base.speedup_vs_baseline == 1.0 and base.samples == 5
    for timing in report.timings:
        assert timing.fps == pytest.approx(1000 / timing.median_ms)
        assert timing.speedup_vs_baseline == pytest.approx(base.median_ms / timing.median_ms)
        assert timing.min_ms <= timing.median_ms <= timing.p90_ms
    onnx_small = report.get("small", "onnx")
    assert onnx_small.speedup_same_backend == pytest.approx(report.get("big", "onnx").median_ms / onnx_small.median_ms)
    data = report.to_dict()
    assert data["settings"]["threads"] == 1 and data["settings"]["ort_intra_op_num_threads"] == 1
    assert data["settings"]["ort_providers"] == ["CPUExecutionProvider"]
    assert data["machine"]["torch_num_threads"] == 1  # recorded while pinned
    assert data["machine"]["torch"] == torch.__version__ and data["machine"]["onnxruntime"]
    assert data["machine"]["cpu_model"]
