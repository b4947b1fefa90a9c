"""The promotion gate: may a candidate model replace the current champion?

A pure function of two metric dicts and a policy, so every edge case (no champion yet, ties,
NaN or missing metrics) is unit-tested without a registry. The decision carries one line per
check with the numbers it compared; the registry code writes those lines to the model version's
tags and the run report, so an auditor sees *why* a model was or was not promoted.

Quality is compared relative to the champion ("no worse than the champion beyond a tolerance");
cost and parity are absolute targets from the policy. A metric that is required but missing or
not finite always blocks promotion: an unmeasured model is never promoted by accident.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from decig.config import GatePolicy


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]

    def summary(self) -> str:
        failed = [c.name for c in self.checks if not c.passed]
        return "promote" if self.promote else f"reject ({', '.join(failed)})"

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "summary": self.summary(), "checks": [asdict(c) for c in self.checks]}


def _finite(metrics: dict[str, Any] | None, key: str) -> float | None:
    """The metric as a finite float, or None when absent/NaN/inf/not numeric."""
    if metrics is None or key not in metrics or metrics[key] is None:
        return None
    try:
        value = float(metrics[key])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _describe_missing(metrics: dict[str, Any] | None, key: str) -> str:
    if metrics is None or key not in metrics or metrics[key] is None:
        return f"{key} missing"
    return f"{key} is not a finite number ({metrics[key]!r})"


def _relative_check(
    name: str, key: str, cand: dict[str, Any], champ: dict[str, Any] | None, tol: float, lower_is_better: bool
) -> Check:
    c = _finite(cand, key)
    if c is None:
        return Check(name, False, "candidate " + _describe_missing(cand, key))
    if champ is None:
        return Check(name, True, f"candidate {key}={c:.4g}; no champion to compare with")
    h = _finite(champ, key)
    if h is None:
        # A champion without a usable number cannot anchor the comparison; the candidate has one.
        return Check(name, True, f"candidate {key}={c:.4g}; champion {_describe_missing(champ, key)}")
    worse_by = (c - h) if lower_is_better else (h - c)
    ok = worse_by <= tol
    return Check(name, ok, f"candidate {key}={c:.4g} vs champion {h:.4g} (worse by {worse_by:.4g}, tolerance {tol:g})")


def _bound_check(name: str, key: str, cand: dict[str, Any], bound: float, upper: bool) -> Check:
    c = _finite(cand, key)
    if c is None:
        return Check(name, False, "candidate " + _describe_missing(cand, key))
    ok = c <= bound if upper else c >= bound
    op = "<=" if upper else ">="
    return Check(name, ok, f"{key}={c:.4g} {'meets' if ok else 'violates'} {op} {bound:g}")


def decide(candidate: dict[str, Any], champion: dict[str, Any] | None, policy: GatePolicy) -> GateDecision:
    """Apply ``policy`` to a candidate's metrics (and the champion's, if there is one).

    Metric keys: ``fid``, ``psnr``, ``latency_p50_ms``, ``speedup_vs_vanilla``, ``params``,
    ``parity_max_abs_diff``. Ties on quality pass ("no worse").
    """
    checks: list[Check] = []
    if policy.fid_tolerance is not None:
        checks.append(_relative_check("fid", "fid", candidate, champion, policy.fid_tolerance, lower_is_better=True))
    if policy.psnr_tolerance is not None:
        checks.append(_relative_check("psnr", "psnr", candidate, champion, policy.psnr_tolerance, lower_is_better=False))
    if policy.max_latency_ms is not None:
        checks.append(_bound_check("latency", "latency_p50_ms", candidate, policy.max_latency_ms, upper=True))
    if policy.min_speedup is not None:
        checks.append(_bound_check("speedup", "speedup_vs_vanilla", candidate, policy.min_speedup, upper=False))
    if policy.max_params is not None:
        checks.append(_bound_check("size", "params", candidate, float(policy.max_params), upper=True))
    if policy.max_parity_error is not None:
        checks.append(_bound_check("parity", "parity_max_abs_diff", candidate, policy.max_parity_error, upper=True))
    return GateDecision(promote=all(c.passed for c in checks), checks=checks)
