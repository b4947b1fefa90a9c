"""Compare models: interleaved latency plus MAC reductions, as one JSON-ready record.

This is what ``decig bench`` and ``benchmarks/bench_latency.py`` write. Next to each measured
speedup it puts the MAC reduction against the same baseline and their ratio
(``speedup_over_mac_reduction``): how much of the theoretical saving the device actually delivers
(the DECIG device factor). Values below 1 are normal: memory traffic and per-layer overheads do
not shrink with MACs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from decig.core.errors import EvaluationError
from decig.evaluate.latency import DEFAULT_GAP_MS, DEFAULT_REPEATS, DEFAULT_WARMUP, Candidate, measure_latency

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class NamedModel:
    name: str
    model: nn.Module
    manifest: Any  # decig.models.manifest.ArchManifest
    source: str | None = None  # e.g. the saved model directory


def benchmark(
    models: Sequence[NamedModel],
    *,
    baseline: str,
    backends: Sequence[str] = ("eager", "onnx"),
    device: str = "cpu",
    threads: int = 1,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    gap_ms: float = DEFAULT_GAP_MS,
) -> dict[str, Any]:
    """Latency of every model x backend (interleaved) with cost and MAC-reduction ratios."""
    from decig.models.cost import count_cost

    names = [m.name for m in models]
    if baseline not in names:
        raise EvaluationError(f"baseline {baseline!r} is not among the models ({', '.join(names)})")
    costs = {m.name: count_cost(m.model, m.manifest.input_size, m.manifest.input_nc) for m in models}
    candidates = [Candidate(m.name, m.model, (1, m.manifest.input_nc, *m.manifest.input_size)) for m in models]
    report = measure_latency(
        candidates,
        baseline=baseline,
        backends=backends,
        device=device,
        threads=threads,
        repeats=repeats,
        warmup=warmup,
        gap_ms=gap_ms,
    )
    base_cost = costs[baseline]
    model_rows = {}
    for m in models:
        cost = costs[m.name]
        model_rows[m.name] = {
            "source": m.source,
            "params": cost.params_total,
            "macs_true": cost.macs_true_total,
            "macs_convention": cost.macs_convention_total,
            "input_size": list(m.manifest.input_size),
            "mac_reduction_vs_baseline": base_cost.macs_true_total / cost.macs_true_total,
            "param_reduction_vs_baseline": base_cost.params_total / cost.params_total,
        }
    timings = []
    for timing in report.to_dict()["timings"]:
        reduction = model_rows[timing["model"]]["mac_reduction_vs_baseline"]
        # Same-backend speedup is the fair comparison with MACs: the backend change is not a MAC change.
        timing["speedup_over_mac_reduction"] = timing["speedup_same_backend"] / reduction
        timings.append(timing)
    result = report.to_dict()
    result["timings"] = timings
    return {"schema_version": SCHEMA_VERSION, "models": model_rows, **result}


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def format_table(result: dict[str, Any]) -> str:
    """Human-readable summary of :func:`benchmark` output."""
    base = result["baseline"]
    lines = [
        f"baseline: {base['model']} ({base['backend']}); threads {result['settings']['threads']}, "
        f"{result['settings']['timed_rounds']} interleaved rounds on {result['machine']['cpu_model']}",
        f"{'model':<24}{'backend':<8}{'median ms':>11}{'p90 ms':>9}{'FPS':>9}{'speedup':>9}{'same-bk':>9}{'MAC red.':>10}",
    ]
    for t in result["timings"]:
        reduction = result["models"][t["model"]]["mac_reduction_vs_baseline"]
        lines.append(
            f"{t['model']:<24}{t['backend']:<8}{t['median_ms']:>11.2f}{t['p90_ms']:>9.2f}{t['fps']:>9.1f}"
            f"{t['speedup_vs_baseline']:>8.2f}x{t['speedup_same_backend']:>8.2f}x{reduction:>9.2f}x"
        )
    return "\n".join(lines)
